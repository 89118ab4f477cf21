"""Exercise 1 of simple_producer: messages with a KEY. Kafka sends every message of
a key to the same partition (the default partitioner hashes the key: murmur2(key)
modulo the number of partitions), so the messages of one key stay in order.

Usage: bash day1/simple_producer/run.sh solutions/keyed_producer.py [--topic TOPIC]
           [--keys N] [--interval S] [--count N] [--message TEXT]

The keys are sensor-0, sensor-1, ... sensor-(K-1), in turn. Try it on a topic with
3 partitions: bash infra/kafka.sh topics --create --topic three --partitions 3

Each message is UTF-8 JSON {"time": <epoch milliseconds>, "msg": "Hello, World!"}.
Every message the broker acknowledges is reported with its address and key,
`delivered to three/2/5 (key sensor-1)` (topic/partition/offset). Without --count it runs
until Ctrl-C; either way it flushes before it exits, so every message it accepted
reaches the broker, and it ends with FINAL {"delivered": N, "failed": N}.
The broker: env KAFKA_SERVER (default localhost:9092).
"""

import argparse
import json
import sys
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="test-topic", help="topic to write to (default test-topic)")
parser.add_argument("--interval", type=float, default=0.5, help="seconds between messages (0.5)")
parser.add_argument("--count", type=int, help="send N messages, flush, exit (default: until Ctrl-C)")
parser.add_argument("--keys", type=int, default=3, help="how many different keys (3)")
parser.add_argument("--message", default="Hello, World!", help="the text of the msg field")
args = parser.parse_args()

try:
    # Connecting fetches the cluster's metadata: which broker leads which partition.
    # kafka-python 3 waits bootstrap_timeout_ms for a first broker, then gives up.
    producer = KafkaProducer(
        bootstrap_servers=course.KAFKA_SERVER,
        bootstrap_timeout_ms=4000,
        # How long a message may wait for the broker's acknowledgement, retries included,
        # before its errback reports it failed (idempotent: a resend never doubles it).
        delivery_timeout_ms=course.DELIVERY_TIMEOUT_MS,
        value_serializer=lambda value: json.dumps(value).encode("utf-8"),
        key_serializer=lambda key: key.encode("utf-8"),  # keys are bytes too
    )
except KafkaError:
    course.exit_no_broker()

delivered = failed = 0


def delivery_report(key, metadata):
    # Called (in the producer's background thread) once the broker has acknowledged
    # the message: kafka-python 3 waits for all in-sync replicas (acks='all') by
    # default. Only now does the message have an address: a partition and an offset.
    global delivered
    delivered += 1
    print(f"delivered to {metadata.topic}/{metadata.partition}/{metadata.offset} (key {key})",
          flush=True)


def delivery_failed(exc):
    global failed
    failed += 1
    print(f"delivery failed: {exc!r}", file=sys.stderr, flush=True)


print(f"Producing to topic '{args.topic}' on {course.KAFKA_SERVER} every {args.interval} s "
      "(Ctrl-C to stop)", flush=True)
sent, ctrl_c = 0, False
try:
    while args.count is None or sent < args.count:
        key = f"sensor-{sent % args.keys}"
        value = {"time": int(time.time() * 1000), "msg": args.message}
        # send() does not send: it puts the message in a buffer and returns a future at
        # once. A background thread batches buffered messages to the broker; the
        # callbacks tell each message's outcome.
        # The key decides the partition: same key, same partition, kept in order.
        future = producer.send(args.topic, key=key, value=value)
        future.add_callback(delivery_report, key).add_errback(delivery_failed)
        sent += 1
        if args.count is None or sent < args.count:
            time.sleep(args.interval)
except KafkaTimeoutError:  # send() waited max_block_ms (60 s) for the topic's metadata:
    course.not_sent()       # no broker answers. Stop here: that message counts as failed
except KeyboardInterrupt:
    ctrl_c = True
    print("\nCtrl-C: flushing what was sent ...", file=sys.stderr, flush=True)
finally:
    # Without flush() (or close(), which flushes), messages still in the buffer may
    # never leave this process. course.flush() calls producer.flush(), which returns once
    # each message is delivered or has failed; after Ctrl-C it waits a few seconds at most.
    course.flush(producer, ctrl_c)
    producer.close()
print(f"Sent {sent} message(s) to '{args.topic}': {delivered} delivered, {failed} failed.")
sys.exit(course.producer_final(delivered, failed))
