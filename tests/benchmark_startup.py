"""Seconds from `bash run.sh` to the first batch's output, for every Spark exercise.

    .venv/bin/python tests/benchmark_startup.py [--repeat N] [--only NAME]

A figure, not a test: it prints a table, and the exercise READMEs quote it. Each
run is the exercise's bounded mode on a fresh topic filled with a known number of
messages, started exactly as a student starts it (bash dayN/<exercise>/run.sh).
Needs a broker (bash setup.sh). Spark start-up dominates: on a 2-core laptop expect
most of the time before the first batch to be the JVM and the SparkSession.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from kafka import KafkaProducer

ROOT = Path(__file__).resolve().parent.parent


def hello_messages(n):
    now = int(time.time() * 1000)
    return [{"time": now + i, "msg": f"Hello, World! number {i}"} for i in range(n)]


def fill(topic, values):
    producer = KafkaProducer(bootstrap_servers=os.environ.get("KAFKA_SERVER", "localhost:9092"))
    for value in values:
        producer.send(topic, json.dumps(value).encode())
    producer.flush()
    producer.close()


def run_script(*args, timeout=300):
    subprocess.run(["bash", *map(str, args)], cwd=ROOT, check=True, timeout=timeout,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# name -> (prepare(topic, tmp) -> run.sh arguments, regex of the first batch's first line)
def sparkstream(topic, tmp):
    fill(topic, hello_messages(20))
    return ["day1/simple_sparkstream/run.sh", "--topic", topic, "--batch-seconds", 2, "--batches", 2]


def structuredstreaming(topic, tmp):
    fill(topic, hello_messages(20))
    return ["day2/simple_structuredstreaming/run.sh", "--topic", topic, "--checkpoint", tmp,
            "--max-messages", 20]


def twitter_predict(topic, tmp):
    model = ROOT / "day2/twitter_cluster/output/model"
    if not model.exists():
        run_script("day2/twitter_cluster/run.sh", "train")
    run_script("day2/twitter_cluster/run.sh", "producer", "--topic", topic, "--count", 30,
               "--interval", 0)
    return ["day2/twitter_cluster/run.sh", "predict", "--topic", topic, "--max-messages", 30]


def twitter_streaming_kmeans(topic, tmp):
    run_script("day2/twitter_cluster/run.sh", "producer", "--topic", topic, "--count", 120,
               "--interval", 0)
    return ["day2/twitter_cluster/run.sh", "streaming-kmeans", "--topic", topic, "--batches", 2]


def stateful_dstream(topic, tmp):
    return ["day2/stateful_wordcount/run.sh", "dstream", "--batches", 3]


def stateful_structured(topic, tmp):
    run_script("day2/stateful_wordcount/run.sh", "producer", "--topic", topic, "--count", 33,
               "--interval", 0)
    return ["day2/stateful_wordcount/run.sh", "structured", "--topic", topic, "--max-messages", 33,
            "--max-per-batch", 12]


def windowed_dstream(topic, tmp):
    return ["day2/windowed_sum/run.sh", "dstream", "--count", 3]


def windowed_events(topic, tmp):
    fill(topic, hello_messages(10))
    return ["day2/windowed_sum/run.sh", "events", "--topic", topic, "--starting-offsets", "earliest",
            "--max-messages", 10]


def trendy(version):
    def prepare(topic, tmp):
        run_script("day2/trendy_prices/run.sh", "producer", "--topic", topic, "--count", 3,
                   "--interval", 0.2)
        return ["day2/trendy_prices/run.sh", version, "--topic", topic, "--batches", 1,
                *(["--from-beginning"] if version == "structured" else []),
                "--plot", os.path.join(tmp, "plot.png")]
    return prepare


BENCHMARKS = {
    "simple_sparkstream": (sparkstream, r"^Batch \d"),
    "simple_structuredstreaming": (structuredstreaming, r"^Batch: 0"),
    "stateful_wordcount dstream": (stateful_dstream, r"^--- batch 1 "),
    "stateful_wordcount structured": (stateful_structured, r"^--- batch 0"),
    "windowed_sum dstream": (windowed_dstream, r"^Time: "),
    "windowed_sum events": (windowed_events, r"^--- batch 0"),
    "trendy_prices structured": (trendy("structured"), r"^batch +1 "),
    "trendy_prices dstream": (trendy("dstream"), r"^batch +1 "),
    "twitter_cluster predict": (twitter_predict, r'^\{"cluster"'),
    "twitter_cluster streaming-kmeans": (twitter_streaming_kmeans, r"^BATCH "),
}


def time_to_first_batch(name):
    prepare, first_line = BENCHMARKS[name]
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        args = prepare(topic, os.path.join(tmp, "checkpoint"))
        start = time.monotonic()
        proc = subprocess.Popen(["bash", *map(str, args)], cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        seconds = None
        for line in proc.stdout:
            if seconds is None and re.search(first_line, line):
                seconds = time.monotonic() - start
        proc.wait(timeout=300)
    if seconds is None or proc.returncode != 0:
        sys.exit(f"error: {name} printed no first batch (exit {proc.returncode}): {' '.join(map(str, args))}")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per exercise (default 3)")
    parser.add_argument("--only", help="one exercise, by name")
    args = parser.parse_args()
    names = [args.only] if args.only else list(BENCHMARKS)
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; {args.repeat} run(s) each")
    print(f"{'exercise':36} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name in names:
        times = [time_to_first_batch(name) for _ in range(args.repeat)]
        print(f"{name:36} {statistics.median(times):9.1f} {min(times):7.1f} {max(times):7.1f}", flush=True)


if __name__ == "__main__":
    main()
