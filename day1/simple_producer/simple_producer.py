"""Send a JSON message to a Kafka topic every half second.

Usage: simple_producer.py [--topic test-topic] [--interval 0.5] [--count N] [--message TEXT]

Each message is UTF-8 JSON: {"time": <epoch milliseconds>, "msg": "Hello, World!"}.
The broker is taken from the environment variable KAFKA_SERVER (default localhost:9092).
Without --count it runs until Ctrl-C; either way it flushes before it exits, so every
message it accepted reaches the broker.
"""

import argparse
import json
import logging
import os
import sys
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

parser = argparse.ArgumentParser(description="Send a JSON message to Kafka every --interval s.")
parser.add_argument("--topic", default="test-topic", help="topic to write to (default: test-topic)")
parser.add_argument("--interval", type=float, default=0.5, help="seconds between messages")
parser.add_argument("--count", type=int, help="send N messages, then exit (default: until Ctrl-C)")
parser.add_argument("--message", default="Hello, World!", help="the text of the msg field")
args = parser.parse_args()
server = os.environ.get("KAFKA_SERVER", "localhost:9092")
logging.basicConfig(level=logging.CRITICAL)  # the client's own retries would flood the screen

try:
    # Connecting fetches the cluster's metadata: which brokers lead which partitions.
    # kafka-python 3 waits bootstrap_timeout_ms for a first broker, then gives up.
    producer = KafkaProducer(
        bootstrap_servers=server,
        bootstrap_timeout_ms=4000,
        value_serializer=lambda value: json.dumps(value).encode("utf-8"),
    )
except (KafkaTimeoutError, KafkaError) as exc:
    sys.exit(
        f"error: no Kafka broker answers on {server} ({type(exc).__name__}). "
        "Start one: bash infra/kafka.sh start (or docker compose up -d kafka)"
    )

failures = 0


def delivery_report(metadata):
    # Called once the broker has acknowledged the message (acks='all' by default in
    # kafka-python 3): the message now has a partition and an offset in the log.
    print(f"delivered to {metadata.topic} [partition {metadata.partition}] @ offset {metadata.offset}")


def delivery_failed(exc):
    global failures
    failures += 1
    print(f"delivery failed: {exc}", file=sys.stderr)


print(f"Producing to topic '{args.topic}' on {server} every {args.interval} s (Ctrl-C to stop)")
sent = 0
try:
    while args.count is None or sent < args.count:
        value = {"time": int(time.time() * 1000), "msg": args.message}
        # send() only puts the message in a buffer and returns at once; a background
        # thread batches buffered messages to the broker. The callbacks tell the outcome.
        future = producer.send(args.topic, value=value)
        future.add_callback(delivery_report).add_errback(delivery_failed)
        sent += 1
        time.sleep(args.interval)
except KeyboardInterrupt:
    print("\nCtrl-C: flushing what was sent ...", file=sys.stderr)
finally:
    # Without flush() (or close(), which flushes), messages still in the buffer are lost.
    producer.flush(timeout=10)
    producer.close(timeout=10)
print(f"Sent {sent} message(s) to '{args.topic}', {failures} failed.")
sys.exit(1 if failures else 0)
