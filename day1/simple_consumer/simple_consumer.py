"""Read JSON messages from Kafka topics and print them.

Usage: simple_consumer.py [--topics a,b] [--group Simple] [--max-messages N] [--seconds S]

Topics come from --topics or the environment variable CONSUME_TOPICS (comma separated,
default test-topic); the broker from KAFKA_SERVER (default localhost:9092). The consumer
joins the consumer group "Simple" and, for partitions the group has never read, starts
at the earliest offset. Without --max-messages or --seconds it runs until Ctrl-C.
A message that is not UTF-8 JSON is reported with its topic, partition and offset,
skipped, and counted; the stream goes on.
"""

import argparse
import json
import logging
import os
import sys
import time

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError

parser = argparse.ArgumentParser(description="Print the JSON messages of Kafka topics.")
parser.add_argument(
    "--topics",
    default=os.environ.get("CONSUME_TOPICS", "test-topic"),
    help="comma-separated topics (default: $CONSUME_TOPICS or test-topic)",
)
parser.add_argument("--group", default="Simple", help="consumer group id (default: Simple)")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
args = parser.parse_args()
server = os.environ.get("KAFKA_SERVER", "localhost:9092")
topics = [t.strip() for t in args.topics.split(",") if t.strip()]
logging.basicConfig(level=logging.CRITICAL)  # the client's own retries would flood the screen

try:
    consumer = KafkaConsumer(
        *topics,
        bootstrap_servers=server,
        bootstrap_timeout_ms=4000,
        # The group's committed offsets say where to resume. A group that has never
        # read a partition starts at its beginning ('earliest') instead of only new
        # messages ('latest', the default).
        group_id=args.group,
        auto_offset_reset="earliest",
        # We commit ourselves, after printing: a message counts as read once it is
        # shown, so a crash or Ctrl-C never skips a message that was not printed.
        enable_auto_commit=False,
    )
except (KafkaTimeoutError, KafkaError) as exc:
    sys.exit(
        f"error: no Kafka broker answers on {server} ({type(exc).__name__}). "
        "Start one: bash infra/kafka.sh start (or docker compose up -d kafka)"
    )

print(f"Consuming {topics} on {server} as group '{args.group}' (Ctrl-C to stop)")
read = malformed = 0
done = {}  # partition -> offset of the next message to read: what we commit


def commit_done():
    # Commit exactly what was handled: poll() may have fetched more than we printed
    # (say Ctrl-C came mid-batch), and committing its position would skip those.
    if done:
        consumer.commit({tp: OffsetAndMetadata(offset) for tp, offset in done.items()})


deadline = time.monotonic() + args.seconds if args.seconds else None
try:
    while args.max_messages is None or read + malformed < args.max_messages:
        if deadline and time.monotonic() >= deadline:
            break
        # poll() returns the records fetched since the last call, per partition, and
        # keeps the consumer alive in its group (heartbeats, partition assignment).
        wanted = args.max_messages - read - malformed if args.max_messages else 100
        for records in consumer.poll(timeout_ms=500, max_records=wanted).values():
            for record in records:
                where = f"{record.topic} [partition {record.partition}] @ offset {record.offset}"
                done[TopicPartition(record.topic, record.partition)] = record.offset + 1
                try:
                    value = json.loads(record.value.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                    malformed += 1
                    print(f"warning: skipped malformed message at {where}: {record.value!r:.80}",
                          file=sys.stderr)
                    continue
                read += 1
                print(f"{where}: {json.dumps(value)}", flush=True)
        commit_done()  # the group resumes after the last message handled
except KeyboardInterrupt:
    print("\nCtrl-C: committing offsets ...", file=sys.stderr)
finally:
    try:
        commit_done()
    except KafkaError as exc:
        print(f"warning: could not commit offsets ({exc}); they will be read again", file=sys.stderr)
    consumer.close(autocommit=False)
print(f"Read {read} message(s), skipped {malformed} malformed.")
