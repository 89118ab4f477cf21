"""Part 2 of the latency lab: how long does a message take from its producer to the
consumer at the end of a pipeline? Five pipelines, the same messages, one clock.

For each pipeline: a new input and output topic; the pipeline's job starts and copies
the input to the output; a producer writes JSON messages {"seq": N, "sent_ns": <clock>}
at fixed rates, --seconds-per-rate at each; a consumer of the output stamps each
arrival with the same clock (one machine, one process: no clock skew). Before the
timed rates, a warm-up at the first rate until a message comes through, and 3 s more:
a Spark job's first batch pays for compiling its code, which is not the latency this
lab is about. Every message sent, warm-up included, must arrive exactly once.

The producer and the consumer are confluent-kafka's (librdkafka, in C): the lab's own
overhead stays far below what it measures. The producer does not wait to fill batches
(linger.ms=0); the consumer assigns itself every partition of the topic it reads and
commits nothing (the topics are deleted after the run).
"""

import json
import os
import sys
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from job import Job

import course

HERE = os.path.dirname(os.path.abspath(__file__))
PIPELINES = {  # name: (what it is, the job that copies input to output, if any)
    "direct": ("no Spark: the consumer reads the input topic", None),
    "trigger-0": ("Structured Streaming, processingTime 0", ["structured_copy.py", "--trigger", "0"]),
    "trigger-1s": ("Structured Streaming, processingTime 1 s", ["structured_copy.py", "--trigger", "1"]),
    "real-time": ("Structured Streaming, Real-Time Mode", ["structured_copy.py", "--real-time", "5"]),
    "dstream": ("DStream via the socket bridge, 1 s batches", ["dstream_copy.py", "--batch-seconds", "1"]),
}


class Arrivals:
    """A consumer of a topic, in a thread: the latency of each message, keyed by seq."""

    def __init__(self, topic, partitions):
        self.consumer = Consumer({"bootstrap.servers": course.KAFKA_SERVER, "group.id": f"{topic}-lab",
                                  "enable.auto.commit": False})
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        self.latency_ms, self.done = {}, threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.done.is_set():
            # poll() returns as soon as a message is there (consume(n) would wait for n)
            message = self.consumer.poll(0.1)
            arrived = time.time_ns()  # the same clock as sent_ns
            if message is not None and message.error() is None:
                value = json.loads(message.value())
                self.latency_ms.setdefault(value["seq"], []).append((arrived - value["sent_ns"]) / 1e6)
        self.consumer.close()

    def stop(self):
        self.done.set()
        self.thread.join(10)


class PacedProducer:
    """Sends {"seq", "sent_ns"} messages at a fixed rate, with delivery reports."""

    def __init__(self, topic):
        self.topic, self.sent, self.failed = topic, 0, []
        self.producer = Producer({"bootstrap.servers": course.KAFKA_SERVER, "linger.ms": 0,
                                  "acks": "all", "enable.idempotence": True})

    def send(self, rate, seconds):
        """rate messages a second for `seconds`; returns the range of their seqs."""
        first, start = self.sent, time.monotonic()
        for i in range(round(rate * seconds)):
            if (ahead := start + i / rate - time.monotonic()) > 0:
                time.sleep(ahead)
            value = json.dumps({"seq": self.sent, "sent_ns": time.time_ns()})
            self.producer.produce(self.topic, value.encode(), on_delivery=self._report)
            self.producer.poll(0)  # serves the delivery reports of earlier messages
            self.sent += 1
        return range(first, self.sent)

    def _report(self, error, message):
        if error is not None:
            self.failed.append(f"{message.topic()}: {error}")

    def flush(self):
        self.producer.flush(30)
        if self.failed:
            sys.exit(f"error: {len(self.failed)} messages were not written ({self.failed[0]})")


def summary(ordered):
    """Count, nearest-rank percentiles and max of an ordered list of latencies (ms)."""

    def percentile(q):
        return round(ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))], 1)

    return {"count": len(ordered), "p50_ms": percentile(50), "p90_ms": percentile(90),
            "p99_ms": percentile(99), "max_ms": round(ordered[-1], 1)}


def measure(name, job, topics, partitions, rates, seconds, checkpoint):
    """Run one pipeline (job: its script and options, or None): returns
    ({rate: sorted latencies in ms}, the exactly-once counts)."""
    if job:  # structured_copy.py needs a checkpoint folder: a new one, under `checkpoint`
        extra = ["--checkpoint", checkpoint] if job[0] == "structured_copy.py" else []
        job = Job(name, os.path.join(HERE, job[0]), "--topic", topics[0], "--output", topics[1],
                  *job[1:], *extra)
    arrivals, producer = Arrivals(topics[1] if job else topics[0], partitions), PacedProducer(topics[0])
    try:
        if job:
            job.wait_ready()
        print(f"   warm-up: {rates[0]} messages/s until one comes through ...", flush=True)
        start = time.monotonic()
        while not arrivals.latency_ms and time.monotonic() < start + 180:
            producer.send(rates[0], 0.5)
        if not arrivals.latency_ms:
            sys.exit(f"error: no message came through the {name} pipeline in 180 s")
        print(f"   the first came through after {time.monotonic() - start:.1f} s; 3 s more, then "
              f"{', '.join(map(str, rates))} messages/s, {seconds:g} s each", flush=True)
        producer.send(rates[0], 3)
        warmup = producer.sent
        phases = {rate: producer.send(rate, seconds) for rate in rates}
        producer.flush()
        deadline = time.monotonic() + 60  # every message through, or a minute at most
        while len(arrivals.latency_ms) < producer.sent and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        if job:
            print(f"   {len(arrivals.latency_ms)} of {producer.sent} messages arrived: the lab stops the job "
                  "(Ctrl-C to it)", flush=True)
            job.stop()
        time.sleep(1)  # a message written twice would be here by now
        arrivals.stop()
    seen = arrivals.latency_ms
    counts = {"sent": producer.sent, "warmup": warmup,
              "lost": sum(1 for seq in range(producer.sent) if seq not in seen),
              "duplicated": sum(len(times) - 1 for times in seen.values())}
    ordered = {rate: sorted(seen[seq][0] for seq in seqs if seq in seen) for rate, seqs in phases.items()}
    return ordered, counts
