"""The auto data scientist game, producer side (the house): every few seconds a new
tiny classification data set, with the score the house's own model reached on it.

Usage: bash day1/autodatascientist/run.sh [producer] [--topic TOPIC] [--interval S]
           [--count N] [--samples N] [--features N]

Each message on data-topic is one round of the game (UTF-8 JSON):

    {"rows": [{"x": [5 floats], "label": 0 or 1}, ... 10 rows], "score": 0.9}

`score` is the TRAINING accuracy of a logistic regression fitted on those same 10
rows. The player's job (README) is to beat it; the README says why that is harder,
and more interesting, than it looks. Every round the broker acknowledges is
reported with its address, `round 1: score 0.900, delivered to data-topic/0/0`.
Without --count it plays until Ctrl-C; either way it flushes before it exits and
ends with FINAL {"delivered": N, "failed": N}. The broker: env KAFKA_SERVER.
"""

import argparse
import json
import sys
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="data-topic", help="topic to write (default data-topic)")
parser.add_argument("--interval", type=float, default=5.0, help="seconds between rounds (5)")
parser.add_argument("--count", type=int, help="send N rounds, flush, exit (default: until Ctrl-C)")
parser.add_argument("--samples", type=int, default=10, help="rows per data set (10)")
parser.add_argument("--features", type=int, default=5, help="features per row (5)")
args = parser.parse_args()

try:
    producer = KafkaProducer(
        bootstrap_servers=course.KAFKA_SERVER,
        bootstrap_timeout_ms=4000,  # no broker: give up after 4 s
        # How long a message may wait for the broker's acknowledgement, retries included,
        # before its errback reports it failed (idempotent: a resend never doubles it).
        delivery_timeout_ms=course.DELIVERY_TIMEOUT_MS,
        value_serializer=lambda value: json.dumps(value).encode("utf-8"),
    )
except KafkaError:
    course.exit_no_broker()


def make_round():
    """A fresh data set and the house's score on it: the model is fitted and scored
    on the same rows (training accuracy)."""
    X, y = make_classification(n_samples=args.samples, n_features=args.features, flip_y=0.1)
    score = LogisticRegression().fit(X, y).score(X, y)
    rows = [{"x": x.tolist(), "label": int(label)} for x, label in zip(X, y, strict=True)]
    return {"rows": rows, "score": float(score)}


delivered = failed = 0


def delivery_report(round_number, score, metadata):
    # Runs in the producer's background thread once the broker has the message.
    global delivered
    delivered += 1
    print(f"round {round_number}: score {score:.3f}, delivered to "
          f"{metadata.topic}/{metadata.partition}/{metadata.offset}", flush=True)


def delivery_failed(round_number, exc):
    global failed
    failed += 1
    print(f"round {round_number}: delivery failed: {exc!r}", file=sys.stderr, flush=True)


print(f"Playing the house on topic '{args.topic}' at {course.KAFKA_SERVER}, a round every "
      f"{args.interval} s (Ctrl-C to stop)", flush=True)
sent, ctrl_c = 0, False
try:
    while args.count is None or sent < args.count:
        message = make_round()
        sent += 1
        # send() is asynchronous: it queues the message and returns a future at once.
        future = producer.send(args.topic, message)
        future.add_callback(delivery_report, sent, message["score"])
        future.add_errback(delivery_failed, sent)
        if args.count is None or sent < args.count:
            time.sleep(args.interval)
except KafkaTimeoutError:  # send() waited max_block_ms (60 s) for the topic's metadata:
    course.not_sent()       # no broker answers. Stop here: that message counts as failed
except KeyboardInterrupt:
    ctrl_c = True
    print("\nCtrl-C: flushing what is still queued ...", file=sys.stderr, flush=True)
finally:
    # Without flush() (or close(), which flushes) the last rounds may never leave this
    # process. course.flush() calls producer.flush(), which returns once each round is
    # delivered or has failed; after Ctrl-C it waits a few seconds at most.
    course.flush(producer, ctrl_c)
    producer.close()
sys.exit(course.producer_final(delivered, failed))
