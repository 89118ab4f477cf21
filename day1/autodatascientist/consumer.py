"""The auto data scientist game, consumer side (the player): read each round from
data-topic and turn it back into what a data scientist works with, numpy arrays
X and y.

Usage: bash day1/autodatascientist/run.sh consumer [--topic TOPIC]
           [--group GROUP] [--max-messages N] [--seconds S] [--json]

This is the starting point of the exercise (README): right where the arrays are
printed, train something that beats the producer's score.
solutions/honest_scoreboard.py is one way to do it, honestly.

--topic defaults to env CONSUME_TOPICS, else data-topic. The consumer group
autodata_consumer starts at the earliest round the first time, and where it stopped
after that: it commits each round once it has handled it. A message that is not
a data set (course README, "What counts as malformed") is reported with its address and
what is wrong, skipped and counted. --json also prints
each data set as one JSON line. It ends with
FINAL {"messages": N, "malformed": N, "datasets": N}. The broker: env KAFKA_SERVER.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

import course


def rebuild(value):
    """One message value (bytes) -> (X, y, score): X a (rows x features) float array,
    y an int array of labels, score the producer's float. Raises ValueError saying
    what is wrong when the message is not a well-formed data set: the course's
    definition of the format (course README, "What counts as malformed"),
    course.parse_value()."""
    data = course.parse_value(value, "matrix")  # course.Malformed is a ValueError
    X = np.array([row["x"] for row in data["rows"]], dtype=float)
    y = np.array([row["label"] for row in data["rows"]], dtype=int)
    return X, y, float(data["score"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", default=os.environ.get("CONSUME_TOPICS", "data-topic"),
                        help="topic to read (default: $CONSUME_TOPICS or data-topic)")
    parser.add_argument("--group", default="autodata_consumer",
                        help="consumer group id (default autodata_consumer)")
    parser.add_argument("--max-messages", type=int, help="stop after N messages")
    parser.add_argument("--seconds", type=float, help="stop after S seconds")
    parser.add_argument("--json", action="store_true", help="also print each data set as JSON")
    args = parser.parse_args()
    np.set_printoptions(precision=3, suppress=True)

    try:
        consumer = KafkaConsumer(
            args.topic,
            bootstrap_servers=course.KAFKA_SERVER,
            bootstrap_timeout_ms=4000,  # no broker: give up after 4 s
            group_id=args.group,
            auto_offset_reset="earliest",  # a new group starts at the first round
            enable_auto_commit=False,  # we commit each round once it is handled
        )
    except KafkaError:
        course.exit_no_broker()

    print(f"Reading the rounds of '{args.topic}' at {course.KAFKA_SERVER} as group "
          f"'{args.group}' (Ctrl-C to stop)", flush=True)
    messages = malformed = datasets = 0
    deadline = time.monotonic() + args.seconds if args.seconds else None
    try:
        while args.max_messages is None or messages < args.max_messages:
            if deadline and time.monotonic() >= deadline:
                break
            wanted = args.max_messages - messages if args.max_messages else 100
            for records in consumer.poll(timeout_ms=500, max_records=wanted).values():
                for record in records:
                    where = f"{record.topic}/{record.partition}/{record.offset}"
                    try:
                        X, y, score = rebuild(record.value)
                    except ValueError as problem:
                        malformed += 1
                        course.skipped(record.topic, record.partition, record.offset, str(problem))
                    else:
                        datasets += 1
                        print(f"\n{where}: {X.shape[0]} rows x {X.shape[1]} features, "
                              f"producer's score {score:.3f} (training accuracy)")
                        print(f"X =\n{X}\ny = {y}", flush=True)
                        # Your turn (README): fit a model on X, y here and beat `score`.
                        if args.json:
                            print(json.dumps({"topic": record.topic, "partition": record.partition,
                                              "offset": record.offset, "X": X.tolist(),
                                              "y": y.tolist(), "score": score}), flush=True)
                    # Handled: the group resumes after this round, even after a crash.
                    consumer.commit({TopicPartition(record.topic, record.partition):
                                     OffsetAndMetadata(record.offset + 1)})
                    messages += 1
    except KeyboardInterrupt:
        print("\nCtrl-C: leaving the group (every round handled is committed) ...",
              file=sys.stderr, flush=True)
    finally:
        consumer.close(autocommit=False)
    course.final({"messages": messages, "malformed": malformed}, datasets=datasets)


if __name__ == "__main__":
    main()
