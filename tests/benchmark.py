"""How fast the Spark exercises start, and whether their streams keep up.

    .venv/bin/python tests/benchmark.py [--repeat N] [--only NAME] [--skip-startup] [--skip-steady]
        [--skip-memory] [--skip-ctrl-c]

Figures, not tests: it prints tables, ends with one line `BENCH {json}` (with the
run's date, commit and Spark version), and the READMEs quote it, naming the run.
Every run is started exactly as a student starts it (bash dayN/<exercise>/run.sh ...),
on fresh topics. Needs a broker (bash setup.sh).

1. Start-up: seconds from `bash run.sh` to the first batch's output, for every Spark
   exercise in its bounded mode on a topic filled with a few messages, and the ratio
   to a reference measured in the same rounds (absolute times swing with the
   machine's load, a ratio much less): tests/reference_wordcount.py, a minimal Kafka
   word count as apache/spark's examples start it (spark-submit, the connector's jars,
   nothing of the course's).
2. Steady state, fed live at 5 and at 200 messages a second:
   - DStream jobs: each batch's processing time divided by the batch interval
     (median and maximum after the first batch, and the first, which pays for
     Spark's warm-up): a DStream keeps up while it stays well below 1;
   - Structured Streaming: the median micro-batch duration;
   - both: stop_s, the seconds from the end of --seconds to the exit.
   They read the lines the course's helper prints when a stream stops.
3. Memory: the peak resident memory of the local broker, simple_structuredstreaming
   (its Python and Spark's JVM) and simple_producer, running together.
4. Ctrl-C: every streaming part of every Spark exercise, as a student runs it (its
   default batch interval or trigger), fed live; SIGINT to its process group at the
   worst moment, just as a batch has printed (a DStream's next batch then holds lines
   to process; a Structured query with --trigger 0 has a micro-batch under way):
   seconds from Ctrl-C to the exit, against the convention's promise (one batch
   interval plus 5 s), and whether FINAL counted every message received once (the
   checks of tests/test_live_stops.py, whose runs these are).
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from kafka import KafkaProducer

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SERVER = os.environ.get("KAFKA_SERVER", "localhost:9092")
ENV = {**os.environ, "SPARK_UI": "off"}


def hello(i):
    return {"time": int(time.time() * 1000), "msg": f"Hello, World! number {i}"}


def fill(topic, values):
    producer = KafkaProducer(bootstrap_servers=KAFKA_SERVER)
    for value in values:
        producer.send(topic, json.dumps(value).encode())
    producer.flush()
    producer.close()


def run_quietly(*args, timeout=300):
    subprocess.run(["bash", *map(str, args)], cwd=ROOT, check=True, timeout=timeout, env=ENV,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --- 1. start-up: name -> (prepare(topic, tmp) -> run.sh arguments, first batch's line) ---
def sparkstream(topic, tmp):
    fill(topic, [hello(i) for i in range(20)])
    return ["day1/simple_sparkstream/run.sh", "--topic", topic, "--batch-seconds", 2, "--max-messages", 20]


def structured(topic, tmp):
    fill(topic, [hello(i) for i in range(20)])
    return ["day2/simple_structuredstreaming/run.sh", "--topic", topic, "--checkpoint", tmp,
            "--max-messages", 20]


def stateful_dstream(topic, tmp):
    return ["day2/stateful_wordcount/run.sh", "dstream", "--batches", 3]


def stateful_structured(topic, tmp):
    run_quietly("day2/stateful_wordcount/run.sh", "producer", "--topic", topic, "--count", 33,
                "--interval", 0)
    return ["day2/stateful_wordcount/run.sh", "structured", "--topic", topic, "--max-messages", 33,
            "--max-per-batch", 12]


def windowed_dstream(topic, tmp):
    return ["day2/windowed_sum/run.sh", "dstream", "--count", 3]


def windowed_events(topic, tmp):
    fill(topic, [hello(i) for i in range(10)])
    return ["day2/windowed_sum/run.sh", "events", "--topic", topic, "--starting-offsets", "earliest",
            "--max-messages", 10]


def trendy(part):
    def prepare(topic, tmp):
        run_quietly("day2/trendy_prices/run.sh", "producer", "--topic", topic, "--count", 3,
                    "--interval", 0.2)
        return ["day2/trendy_prices/run.sh", part, "--topic", topic, "--batches", 1,
                *(["--starting-offsets", "earliest"] if part == "structured" else []),
                "--plot", os.path.join(tmp, "plot.png")]
    return prepare


def twitter_predict(topic, tmp):
    model = os.path.join(tmp, "model")
    run_quietly("day2/twitter_cluster/run.sh", "train", "--model", model)
    run_quietly("day2/twitter_cluster/run.sh", "producer", "--topic", topic, "--count", 30,
                "--interval", 0)
    return ["day2/twitter_cluster/run.sh", "predict", "--topic", topic, "--model", model,
            "--max-messages", 30]


def twitter_streaming_kmeans(topic, tmp):
    run_quietly("day2/twitter_cluster/run.sh", "producer", "--topic", topic, "--count", 120,
                "--interval", 0)
    return ["day2/twitter_cluster/run.sh", "streaming-kmeans", "--topic", topic, "--batches", 2]


STARTUP = {
    "simple_sparkstream": (sparkstream, r"^Batch \d|^-+ Batch"),
    "simple_structuredstreaming": (structured, r"^Batch: 0"),
    "stateful_wordcount dstream": (stateful_dstream, r"batch 1\b"),
    "stateful_wordcount structured": (stateful_structured, r"batch 0\b"),
    "windowed_sum dstream": (windowed_dstream, r"^Time: "),
    "windowed_sum events": (windowed_events, r"batch 0\b"),
    "trendy_prices structured": (trendy("structured"), r"^batch +1 "),
    "trendy_prices dstream": (trendy("dstream"), r"^batch +1 "),
    "twitter_cluster predict": (twitter_predict, r'^\{"cluster"'),
    "twitter_cluster streaming-kmeans": (twitter_streaming_kmeans, r"^BATCH "),
}


# The reference: tests/reference_wordcount.py, a minimal Kafka word count in the style of
# apache/spark's structured_kafka_wordcount.py, started with spark-submit, the connector's
# jars and two shuffle partitions, and nothing of the course's (no settings, no archive).
REFERENCE = "reference: spark-submit structured_kafka_wordcount"


def reference(topic, tmp):
    fill(topic, [hello(i) for i in range(20)])
    jars = ",".join(sorted(str(p) for p in (ROOT / "infra/local/jars/spark-kafka").glob("*.jar")))
    return [str(ROOT / ".venv/bin/spark-submit"), "--jars", jars,
            "--conf", "spark.sql.shuffle.partitions=2", str(ROOT / "tests/reference_wordcount.py"),
            KAFKA_SERVER, topic]


REFERENCE_ENV = {k: v for k, v in ENV.items()
                 if k not in ("SPARK_CONF_DIR", "PYSPARK_SUBMIT_ARGS", "SPARK_UI")}
REFERENCE_ENV["PATH"] = f"{ROOT / '.venv/bin'}{os.pathsep}{os.environ['PATH']}"


def seconds_to_first_batch(name):
    """Seconds from the start of the command to its first batch's line. The reference
    runs until stopped: it is stopped once its first batch printed."""
    prepare, first_line = (reference, r"^Batch: 0") if name == REFERENCE else STARTUP[name]
    with tempfile.TemporaryDirectory() as tmp:
        args = prepare(f"bench-{uuid.uuid4().hex[:8]}", os.path.join(tmp, "checkpoint"))
        command, env = (args, REFERENCE_ENV) if name == REFERENCE else (["bash", *args], ENV)
        start = time.monotonic()
        proc = subprocess.Popen([*map(str, command)], cwd=tmp if name == REFERENCE else ROOT,
                                text=True, env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        seconds = None
        for line in proc.stdout:
            if seconds is None and re.search(first_line, line):
                seconds = time.monotonic() - start
                if name == REFERENCE:
                    os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=300)
    if seconds is None or (proc.returncode != 0 and name != REFERENCE):
        sys.exit(f"error: {name} printed no first batch (exit {proc.returncode}): "
                 + " ".join(map(str, args)))
    return seconds


# --- 3. memory: what the broker, a Spark job and a producer hold together -------------------
def rss_mb(pid):
    """Resident memory of a process and all its descendants, in MB (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
            with open(f"/proc/{p}/task/{p}/children") as children:
                todo += [int(c) for c in children.read().split()]
        except (OSError, StopIteration):
            pass
    return total / 1024


def memory(seconds=30):
    """Peak resident memory while simple_structuredstreaming runs fed by simple_producer:
    the broker's JVM, the job (its Python and Spark's driver JVM), the producer."""
    port = KAFKA_SERVER.rsplit(":", 1)[1]  # the broker: whoever listens there (not in Docker)
    listeners = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True)
    broker = (re.findall(r"pid=(\d+)", listeners.stdout) or [None])[0]
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        producer = subprocess.Popen(["bash", "day1/simple_producer/run.sh", "--topic", topic,
                                     "--interval", "0.05"], cwd=ROOT, env=ENV, start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        job = subprocess.Popen(["bash", "day2/simple_structuredstreaming/run.sh", "--topic", topic,
                                "--checkpoint", tmp, "--seconds", str(seconds)], cwd=ROOT, env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = {"broker": 0.0, "spark_job": 0.0, "producer": 0.0}
        while job.poll() is None:
            for part, pid in (("broker", broker), ("spark_job", job.pid), ("producer", producer.pid)):
                if pid:
                    peak[part] = max(peak[part], rss_mb(int(pid)))
            time.sleep(0.5)
        os.killpg(producer.pid, signal.SIGINT)
        try:
            producer.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a finding, not a reason to lose the figures
            print("note: simple_producer was still running 30 s after Ctrl-C: killed", flush=True)
            os.killpg(producer.pid, signal.SIGKILL)
    peak = {part: round(mb) for part, mb in peak.items()}
    return {**peak, "total": sum(peak.values())}


# --- 2. steady state: a live feed at a rate, a run of --seconds, the helper's summary ---
def feed(topic, rate, stop, make=hello):
    """Send `rate` messages a second to topic until stop is set."""
    producer = KafkaProducer(bootstrap_servers=KAFKA_SERVER, linger_ms=5)
    i, start = 0, time.monotonic()
    while not stop.is_set():
        producer.send(topic, json.dumps(make(i)).encode())
        i += 1
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
    producer.flush()
    producer.close()


def trendy_message(i):
    rows = [{"x": [0.5] * 5, "known": bool(j % 2), "label": 0.01 if j % 2 else None}
            for j in range(10)]
    return {"t": i * 0.2, "true_weights": [0.01] * 5, "rows": rows}


STEADY = {  # name -> (run.sh arguments after --topic T, batch seconds or None, message maker)
    "simple_sparkstream": (["day1/simple_sparkstream/run.sh", "--batch-seconds", 10], 10, hello),
    "trendy_prices dstream": (["day2/trendy_prices/run.sh", "dstream", "--batch-seconds", 5], 5,
                              trendy_message),
    "simple_structuredstreaming": (["day2/simple_structuredstreaming/run.sh"], None, hello),
}


def steady(name, rate, seconds):
    command, interval, make = STEADY[name]
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(topic, rate, stop, make), daemon=True)
    feeder.start()
    with tempfile.TemporaryDirectory() as tmp:
        extra = ["--checkpoint", tmp] if interval is None else []
        args = [*command, "--topic", topic, *extra, "--seconds", seconds]
        proc = subprocess.Popen(["bash", *map(str, args)], cwd=ROOT, text=True, env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, stopping = [], None
        for line in proc.stdout:
            out.append(line)
            if stopping is None and "reached: stopping" in line:
                stopping = time.monotonic()  # --seconds are over: the stop begins
        proc.wait(timeout=300)
        stop_s = round(time.monotonic() - stopping, 1) if stopping else None
    stop.set()
    feeder.join()
    out = "".join(out)
    if proc.returncode != 0:
        sys.exit(f"error: {name} failed (exit {proc.returncode}):\n{out[-2000:]}")
    if interval is not None:
        m = re.search(r"(\d+) batch(?:es)? of [\d.]+ s: processing took ([\d.]+) s median, "
                      r"([\d.]+) s max(?:, ([\d.]+) s the first)?", out)
        if not m:
            sys.exit(f"error: {name} printed no processing summary:\n{out[-2000:]}")
        median, worst, first = float(m[2]), float(m[3]), float(m[4] or m[3])
        return {"median_ratio": round(median / interval, 3), "max_ratio": round(worst / interval, 3),
                "first_ratio": round(first / interval, 3), "batches": int(m[1]), "stop_s": stop_s}
    m = re.search(r"micro-batch(?:es)? took ([\d.]+) s median", out)
    if not m:
        sys.exit(f"error: {name} printed no micro-batch summary:\n{out[-2000:]}")
    return {"median_batch_s": float(m[1]), "stop_s": stop_s}


def ctrl_c(name, model):
    """One part fed live, Ctrl-C just after a batch printed: seconds to exit, counted?"""
    from test_live_stops import PARTS, assert_quiet_stop, delete_topic, live_run

    with tempfile.TemporaryDirectory() as tmp:
        output, rc, took, run = live_run(name, "sigint", Path(tmp), model=model, quick=False,
                                         wait_after_ready=0)
        try:
            assert_quiet_stop(output, rc, "sigint", PARTS[name].batch)
            PARTS[name].check(final_line(output), output, run)
            counted = True
        except AssertionError as failure:
            print(f"  {name}: {(str(failure) or repr(failure)).splitlines()[0][:200]}", flush=True)
            counted = False
        finally:
            delete_topic(run.topic)
    promise = PARTS[name].interval + 5
    return {"interval_s": PARTS[name].interval, "stop_s": round(took, 1), "promise_s": promise,
            "kept": took <= promise, "counted": counted}


def final_line(output):
    return json.loads(next(line for line in output.splitlines() if line.startswith("FINAL "))[6:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="start-up runs per exercise (1)")
    parser.add_argument("--only", help="one exercise, by name")
    parser.add_argument("--skip-startup", action="store_true", help="no start-up figures")
    parser.add_argument("--skip-steady", action="store_true", help="no steady-state figures")
    parser.add_argument("--skip-memory", action="store_true", help="no memory figures")
    parser.add_argument("--steady-seconds", type=float, default=60, help="each steady run (60)")
    parser.add_argument("--skip-ctrl-c", action="store_true", help="no Ctrl-C timings")
    args = parser.parse_args()
    # What a README that quotes these figures names: the run's date, commit and Spark.
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or None
    spark = re.search(r"^SPARK_VERSION=(\S+)", (ROOT / "infra/versions.sh").read_text(), re.MULTILINE)[1]
    bench = {"date": time.strftime("%Y-%m-%d"), "commit": commit, "spark": spark,
             "cores": os.cpu_count(), "load": round(os.getloadavg()[0], 1), "startup_s": {}, "steady": {},
             "ctrl_c": {}}
    print(f"benchmark run of {bench['date']}, commit {commit}, Spark {spark}: "
          f"{os.cpu_count()} cores; load average {bench['load']}")
    names = [] if args.skip_startup else [REFERENCE] + [n for n in STARTUP if not args.only or n == args.only]
    if names:
        print(f"\n1. start-up: seconds from `bash run.sh` to the first batch ({args.repeat} round(s));"
              " each round runs the reference first, then every exercise; ratio = exercise / reference"
              " (medians)")
        print(f"{'exercise':36} {'median s':>9} {'min s':>7} {'max s':>7} {'ratio':>6}")
    times = {name: [] for name in names}
    for _ in range(args.repeat if names else 0):
        for name in names:
            times[name].append(seconds_to_first_batch(name))
    base = statistics.median(times[REFERENCE]) if names else None
    bench["reference_s"] = round(base, 1) if names else None
    bench["startup_ratio"] = {}
    for name in names:
        median = statistics.median(times[name])
        if name != REFERENCE:
            bench["startup_s"][name] = round(median, 1)
            bench["startup_ratio"][name] = round(median / base, 2)
        print(f"{name[:36]:36} {median:9.1f} {min(times[name]):7.1f} {max(times[name]):7.1f} "
              f"{median / base:6.2f}", flush=True)
    if not args.skip_steady:
        print(f"\n2. steady state, fed live, {args.steady_seconds:g} s each")
        for name in [n for n in STEADY if not args.only or n == args.only]:
            for rate in (5, 200):
                result = steady(name, rate, args.steady_seconds)
                bench["steady"][f"{name} @{rate}/s"] = result
                figures = ", ".join(f"{k} {v}" for k, v in result.items())
                print(f"{name + f' @ {rate} msg/s':36} {figures}", flush=True)
    if not args.skip_memory:
        bench["memory_mb"] = memory()
        print("\n3. memory: peak resident MB while simple_structuredstreaming runs fed by "
              "simple_producer\n   " + ", ".join(f"{k} {v}" for k, v in bench["memory_mb"].items()))
    if not args.skip_ctrl_c:
        from test_live_stops import PARTS, train_model

        names = [n for n in PARTS if not args.only or n == args.only]
        print("\n4. Ctrl-C just after a batch printed, fed live: seconds to exit "
              "(promise: batch interval + 5 s)")
        print(f"{'exercise':36} {'interval s':>10} {'stop s':>7} {'kept':>5} {'counted':>8}")
        with tempfile.TemporaryDirectory() as tmp:
            needs_model = any("{model}" in PARTS[n].run for n in names)
            model = train_model(tmp) if needs_model else None
            for name in names:
                result = bench["ctrl_c"][name] = ctrl_c(name, model)
                print(f"{name:36} {result['interval_s']:10g} {result['stop_s']:7.1f} "
                      f"{'yes' if result['kept'] else 'NO':>5} {'yes' if result['counted'] else 'NO':>8}",
                      flush=True)
    print("BENCH " + json.dumps(bench))


if __name__ == "__main__":
    main()
