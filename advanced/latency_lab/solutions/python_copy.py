"""Exercise 1's answer: the floor, with a copy, in plain Python (no Spark).

A consumer of --topic that writes each message to --output at once (confluent-kafka).

Usage:
    bash advanced/latency_lab/run.sh solutions/python_copy.py [--quick]
        (the lab measures it beside "direct", the consumer of the input topic itself)
    python solutions/python_copy.py --topic IN --output OUT [--seconds S] [--max-messages N]

One message at a time: poll() hands over a message as soon as the consumer's
background thread has fetched it, produce() queues its copy, and librdkafka sends it
at once (linger.ms=0). What it adds to "direct" is one more hop through the broker:
a produce request, the broker's write, a fetch. It commits the input offsets of what it
has copied, once a second, after flush() has seen the copies written: a crash repeats
at most a second of messages (at-least-once), it never skips one.
"""

import argparse
import time

from confluent_kafka import Consumer, KafkaException, Producer

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", required=True, help="input topic")
parser.add_argument("--output", required=True, help="output topic")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
args = parser.parse_args()

course.check_broker()
consumer = Consumer({"bootstrap.servers": course.KAFKA_SERVER, "group.id": f"{args.output}-copy",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
consumer.subscribe([args.topic])
producer = Producer({"bootstrap.servers": course.KAFKA_SERVER, "linger.ms": 0})
failed = []


def delivery_report(error, message):
    if error is not None:
        failed.append(error)


def commit_copied():
    """Wait until every copy is written (delivery reports), then commit the input offsets."""
    producer.flush()
    try:
        consumer.commit(asynchronous=False)
    except KafkaException:  # nothing consumed since the last commit
        pass


copied, start, committed = 0, time.monotonic(), time.monotonic()
print(f"ready: copying {args.topic!r} to {args.output!r} in plain Python", flush=True)
try:
    while (args.seconds is None or time.monotonic() - start < args.seconds) and (
            args.max_messages is None or copied < args.max_messages):
        message = consumer.poll(0.1)
        if message is not None and message.error() is None:
            producer.produce(args.output, message.value(), message.key(), on_delivery=delivery_report)
            copied += 1
        producer.poll(0)  # serves the delivery reports
        if time.monotonic() - committed > 1:
            commit_copied()
            committed = time.monotonic()
except KeyboardInterrupt:
    print("Ctrl-C: stopping after the copies under way are written ...", flush=True)
finally:
    commit_copied()
    consumer.close()
course.final({"messages": copied, "malformed": 0}, failed=len(failed))
