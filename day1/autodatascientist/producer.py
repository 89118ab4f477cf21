"""The auto data scientist game, producer side: every few seconds a new tiny
classification data set, with the score the producer's own model reached on it.

Each message on data-topic is one round of the game (UTF-8 JSON):

    {"rows": [{"x": [5 floats], "label": 0 or 1}, ... 10 rows], "score": 0.9}

`score` is the TRAINING accuracy of a logistic regression fitted on those same 10
rows. Your job (see exercise.txt) is to beat it; the README says why that is harder,
and more interesting, than it looks.

Usage:
    bash day1/autodatascientist/run.sh producer [--interval 5] [--count N]
        [--samples 10] [--features 5] [--topic data-topic]

Without --count it plays until Ctrl-C. Env KAFKA_SERVER: the broker (localhost:9092).
"""

import argparse
import json
import logging
import os
import sys
import time

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

KAFKA_SERVER = os.environ.get("KAFKA_SERVER", "localhost:9092")

parser = argparse.ArgumentParser(description="Send a new small data set and a score to beat.")
parser.add_argument("--topic", default="data-topic", help="topic to write (default data-topic)")
parser.add_argument("--interval", type=float, default=5.0, help="seconds between rounds (5)")
parser.add_argument("--count", type=int, help="send this many rounds, flush, exit")
parser.add_argument("--samples", type=int, default=10, help="rows per data set (10)")
parser.add_argument("--features", type=int, default=5, help="features per row (5)")
args = parser.parse_args()
logging.getLogger("kafka").setLevel(logging.CRITICAL)  # we report failures ourselves

try:
    # kafka-python 3 waits bootstrap_timeout_ms for a first broker, then raises
    # KafkaTimeoutError: fail in seconds, not after the 30 s default.
    producer = KafkaProducer(
        bootstrap_servers=KAFKA_SERVER,
        value_serializer=lambda value: json.dumps(value).encode("utf-8"),
        bootstrap_timeout_ms=4000,
    )
except KafkaTimeoutError:
    sys.exit(
        f"error: no Kafka broker answers on {KAFKA_SERVER}. "
        "Start one: bash infra/kafka.sh start (or docker compose up -d kafka)"
    )


def make_round():
    """A fresh data set and the producer's score on it: the model is fitted and
    scored on the same rows (training accuracy)."""
    X, y = make_classification(
        n_samples=args.samples, n_features=args.features, flip_y=0.1
    )
    score = LogisticRegression().fit(X, y).score(X, y)
    rows = [{"x": x.tolist(), "label": int(label)} for x, label in zip(X, y, strict=True)]
    return {"rows": rows, "score": float(score)}


def on_delivery(round_number, score):
    # Runs in the producer's background thread once the broker has the message.
    def report(meta):
        print(
            f"round {round_number}: score {score:.3f} -> "
            f"{meta.topic} partition {meta.partition} offset {meta.offset}",
            flush=True,
        )

    return report


def on_error(exc):
    print(f"warning: a round was not delivered: {exc}", file=sys.stderr, flush=True)


sent = 0
try:
    while args.count is None or sent < args.count:
        message = make_round()
        sent += 1
        # send() is asynchronous: it queues the message and returns a future.
        future = producer.send(args.topic, message)
        future.add_callback(on_delivery(sent, message["score"])).add_errback(on_error)
        if args.count is None or sent < args.count:
            time.sleep(args.interval)
except KeyboardInterrupt:
    print("\nCtrl-C: flushing what is still queued ...", file=sys.stderr)
finally:
    # Without flush()/close() the last messages may never leave this process.
    try:
        producer.flush(timeout=10)
        producer.close(timeout=10)
    except KeyboardInterrupt:
        pass
print(f"sent {sent} round(s) to {args.topic}", flush=True)
