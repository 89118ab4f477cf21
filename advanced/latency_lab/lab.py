"""The latency lab: producers' throughput and pipelines' latency, side by side.

How fast can Python write to Kafka, and how long does a message take through Spark?
Measured on your machine, in one run.

Usage:
    bash advanced/latency_lab/run.sh [all|producers|pipelines] [--quick]
        [--records 50000] [--record-size 100]
        [--pipelines direct,trigger-0,trigger-1s,real-time,dstream]
        [--rates 100,1000,5000] [--seconds-per-rate 6] [--partitions 2]

Part 1, producers (producers.py): records/s and MiB/s of kafka-python,
confluent-kafka and Kafka's kafka-producer-perf-test, acks=1 and acks=all, with and
without batching. Part 2, pipelines (pipelines.py): the latency of every message from
its producer to the consumer at the end, through five pipelines (no Spark; Structured
Streaming with processingTime 0 and 1 s; Real-Time Mode; DStream with 1 s batches), at
each input rate: p50, p90, p99, max, and every message exactly once.

Each part prints its table; the plots go to output/ (producers.png, latency_cdf.png,
latency_vs_rate.png); the last line is RESULT {json}. The run exits 1 if a pipeline
lost or doubled a message. Its topics (latency-lab-<time>-<id>-...) and the Spark
checkpoints are deleted at the end, Ctrl-C included.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid

import pipelines
import plots
import producers
from confluent_kafka.admin import AdminClient, NewTopic

import course

HERE = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--parts", default="producers,pipelines", help="which parts, in order")
parser.add_argument("--quick", action="store_true",
                    help="a short run: 5000 records, rates 100,1000, 3 s per rate")
parser.add_argument("--records", type=int, default=50000, help="records per producer test (50000)")
parser.add_argument("--record-size", type=int, default=100, help="bytes per record (100)")
parser.add_argument("--pipelines", default=",".join(pipelines.PIPELINES), help="which pipelines, in order")
parser.add_argument("--rates", default="100,1000,5000", help="input rates, messages/s (100,1000,5000)")
parser.add_argument("--seconds-per-rate", type=float, default=6, help="seconds at each rate (6)")
parser.add_argument("--partitions", type=int, default=2, help="partitions of the pipelines' topics (2)")
parser.add_argument("--job", help="measure this copy job too, after the pipelines (a solution script)")
parser.add_argument("--output", default=os.path.join(HERE, "output"), help="folder of the plots")
args = parser.parse_args()
if args.quick:
    args.records, args.rates, args.seconds_per_rate = 5000, "100,1000", 3
parts, names = args.parts.split(","), args.pipelines.split(",")
rates = [int(r) for r in args.rates.split(",")]
if not set(parts) <= {"producers", "pipelines"} or not set(names) <= pipelines.PIPELINES.keys():
    parser.error(f"--parts: producers, pipelines; --pipelines: {', '.join(pipelines.PIPELINES)}")
jobs = {name: pipelines.PIPELINES[name] for name in names}
if args.job:  # a job of yours: it takes --topic IN --output OUT and prints "ready: ..."
    name = os.path.basename(args.job).removesuffix(".py")
    jobs[name] = (f"your job, {os.path.relpath(args.job, HERE)}", [os.path.abspath(args.job)])

course.check_broker()
stem = f"latency-lab-{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:4]}"  # the run's topics: stem-...
admin, topics = AdminClient({"bootstrap.servers": course.KAFKA_SERVER}), []
checkpoints = tempfile.mkdtemp(prefix="latency_lab-")
os.makedirs(args.output, exist_ok=True)
result = {"machine": {"cores": os.cpu_count(), "spark_master": course.SPARK_MASTER,
                      "load_average_1min": round(os.getloadavg()[0], 1)}}
print(f"Machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (the work of other "
      f"programs slows every figure); broker {course.KAFKA_SERVER}, topics {stem}-*", flush=True)


def new_topics(*names, partitions=1):
    made = admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    for future in made.values():
        future.result()
    topics.extend(names)
    return names


def table(header, rows):
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print("  ".join(str(x).rjust(w) if isinstance(x, int | float) else str(x).ljust(w)
                        for x, w in zip(row, widths, strict=True)), flush=True)


failures, written = [], []  # the plots this run wrote
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleaned up like Ctrl-C
try:
    if "producers" in parts:
        print(f"\n== Producers: {args.records} records of {args.record_size} bytes ==", flush=True)
        rows = producers.run(new_topics(f"{stem}-producers")[0], args.records, args.record_size)
        print()
        table(["client", "acks", "batching", "records", "seconds", "wall s", "records/s", "MiB/s"],
              [list(r.values()) for r in rows])
        written.append(plots.producers(rows, os.path.join(args.output, "producers.png")))
        result["producers"] = rows
    if "pipelines" in parts:
        print(f"\n== Pipelines: latency from producer to consumer, at {args.rates} messages/s, "
              f"{args.seconds_per_rate:g} s each ==", flush=True)
        latencies, summary, rows = {}, {}, []
        header = ["pipeline", "rate/s", "measured", "p50 ms", "p90 ms", "p99 ms", "max ms"]
        for name, (what, job) in jobs.items():
            print(f"\n-- {name}: {what}", flush=True)
            both = new_topics(f"{stem}-{name}-in", f"{stem}-{name}-out", partitions=args.partitions)
            checkpoint = os.path.join(checkpoints, name)
            latencies[name], counts = pipelines.measure(name, job, both, args.partitions, rates,
                                                        args.seconds_per_rate, checkpoint)
            summary[name] = {rate: pipelines.summary(ms) for rate, ms in latencies[name].items() if ms}
            result.setdefault("pipelines", {})[name] = {"what": what, **counts, "rates": summary[name]}
            rows += [[name, rate, *s.values()] for rate, s in summary[name].items()]
            print(f"   {name}: {counts['sent']} messages sent ({counts['warmup']} of them warm-up), "
                  f"{counts['lost']} lost, {counts['duplicated']} doubled", flush=True)
            table(header, rows[-len(summary[name]):])
            if counts["lost"] or counts["duplicated"]:
                failures.append(f"error: the {name} pipeline lost {counts['lost']} messages and doubled "
                                f"{counts['duplicated']}: not exactly once")
        print(f"\nLatency from producer to consumer, {os.cpu_count()} cores, {course.SPARK_MASTER}:")
        table(header, rows)
        written.append(plots.latency_cdf(latencies, os.path.join(args.output, "latency_cdf.png")))
        written.append(plots.latency_vs_rate(summary, os.path.join(args.output, "latency_vs_rate.png")))
except KeyboardInterrupt:
    print("\nCtrl-C: the lab stops; its job, topics and checkpoints go with it.", file=sys.stderr)
    sys.exit(130)
finally:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: the clean-up goes on
    if topics:
        for future in admin.delete_topics(topics).values():
            future.exception()
    shutil.rmtree(checkpoints, ignore_errors=True)
result["plots"] = [os.path.relpath(path) for path in written]
for failure in failures:
    print(failure, file=sys.stderr)
print("RESULT " + json.dumps(result), flush=True)
sys.exit(1 if failures else 0)
