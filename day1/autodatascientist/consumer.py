"""The auto data scientist game, consumer side: read each round from data-topic and
turn it back into what a data scientist works with, numpy arrays X and y.

This is the starting point of the exercise (exercise.txt): right where the arrays
are printed, train something that beats the producer's score. solution.py is one
way to do it, honestly.

Usage:
    bash day1/autodatascientist/run.sh consumer [--max-messages N] [--seconds S]
        [--topic data-topic] [--json]

--topic defaults to env CONSUME_TOPICS (comma separated), else data-topic. Consumer
group autodata_consumer: a new group starts at the earliest message, a known one
where it stopped. --json also prints each data set as one JSON line, for scripts.
Env KAFKA_SERVER: the broker (localhost:9092).
"""

import argparse
import json
import logging
import math
import os
import sys
import time

import numpy as np
from kafka import KafkaConsumer
from kafka.errors import KafkaTimeoutError

KAFKA_SERVER = os.environ.get("KAFKA_SERVER", "localhost:9092")


def rebuild(value):
    """One message value (bytes) -> (X, y, score): X a (rows x features) float array,
    y an int array of labels, score the producer's float. Raises ValueError saying
    what is wrong when the message is not a well-formed data set."""
    try:
        data = json.loads(value)
        rows, score = data["rows"], data["score"]
        xs = [row["x"] for row in rows]
        labels = [row["label"] for row in rows]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    except (KeyError, TypeError) as exc:
        raise ValueError(f"lacks a field of rows[].x, rows[].label, score ({exc!r})") from None

    def is_number(v):
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    if not is_number(score):
        raise ValueError(f"score is not a number: {score!r}")
    if len(rows) < 2:
        raise ValueError(f"{len(rows)} row(s): a data set needs at least 2")
    if not all(isinstance(x, list) and x and all(map(is_number, x)) for x in xs):
        raise ValueError("an 'x' is not a non-empty list of numbers")
    if len({len(x) for x in xs}) != 1:
        raise ValueError(f"rows of different lengths {sorted({len(x) for x in xs})}: not a matrix")
    if not all(isinstance(label, int) and not isinstance(label, bool) for label in labels):
        raise ValueError("a 'label' is not an integer")
    return np.array(xs, dtype=float), np.array(labels, dtype=int), float(score)


def where(record):
    return f"{record.topic} partition {record.partition} offset {record.offset}"


def connect(topics, group_id):
    """A consumer in group_id subscribed to topics; exits with one line without a broker."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # we report failures ourselves
    try:
        return KafkaConsumer(
            *topics,
            bootstrap_servers=KAFKA_SERVER,
            group_id=group_id,
            auto_offset_reset="earliest",  # a new group starts at the first round
            bootstrap_timeout_ms=4000,  # kafka-python 3: KafkaTimeoutError after 5 s
        )
    except KafkaTimeoutError:
        sys.exit(
            f"error: no Kafka broker answers on {KAFKA_SERVER}. "
            "Start one: bash infra/kafka.sh start (or docker compose up -d kafka)"
        )


def records(consumer, max_messages=None, seconds=None):
    """Yield records until max_messages were read or seconds passed (None: for ever).
    Offsets are committed as we go (auto commit) and when the consumer closes."""
    start, read = time.monotonic(), 0
    while max_messages is None or read < max_messages:
        if seconds is not None and time.monotonic() - start >= seconds:
            return
        left = None if max_messages is None else max_messages - read
        # Never fetch more than we will process: close() commits what was fetched.
        batch = consumer.poll(timeout_ms=500, max_records=left)
        for partition_records in batch.values():
            for record in partition_records:
                read += 1
                yield record


def main():
    parser = argparse.ArgumentParser(description="Rebuild each round's X and y with numpy.")
    default_topics = os.environ.get("CONSUME_TOPICS", "data-topic")
    parser.add_argument("--topic", default=default_topics,
                        help="topic(s) to read, comma separated (env CONSUME_TOPICS or data-topic)")
    parser.add_argument("--max-messages", type=int, help="stop after N messages")
    parser.add_argument("--seconds", type=float, help="stop after S seconds")
    parser.add_argument("--json", action="store_true", help="also print each data set as JSON")
    args = parser.parse_args()
    np.set_printoptions(precision=3, suppress=True)

    consumer = connect(args.topic.split(","), "autodata_consumer")
    counts = {"messages": 0, "datasets": 0, "skipped": 0}
    try:
        for record in records(consumer, args.max_messages, args.seconds):
            counts["messages"] += 1
            try:
                X, y, score = rebuild(record.value)
            except ValueError as problem:
                counts["skipped"] += 1
                print(f"warning: skipped {where(record)}: {problem}", file=sys.stderr, flush=True)
                continue
            counts["datasets"] += 1
            print(f"\n{where(record)}: {X.shape[0]} rows x {X.shape[1]} features, "
                  f"producer's score {score:.3f} (training accuracy)")
            print(f"X =\n{X}\ny = {y}")
            # Your turn (exercise.txt): fit a model on X, y here and beat `score`.
            if args.json:
                print(json.dumps({"topic": record.topic, "partition": record.partition,
                                  "offset": record.offset, "X": X.tolist(), "y": y.tolist(),
                                  "score": score}))
            sys.stdout.flush()
    except KeyboardInterrupt:
        print("\nCtrl-C: committing offsets and leaving the group ...", file=sys.stderr)
    finally:
        try:
            consumer.close()  # commits the offsets of what was read, leaves the group
        except KeyboardInterrupt:
            pass
    print("FINAL " + json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
