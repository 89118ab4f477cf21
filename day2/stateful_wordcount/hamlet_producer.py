"""Send Hamlet's soliloquy to Kafka, one line per message, for wordcount_structured.py.

Usage: bash day2/stateful_wordcount/run.sh producer [--topic TOPIC] [--interval S]
           [--count N] [--text FILE]

Each message is UTF-8 JSON in the simple_producer format, the line as "msg":
    {"time": <epoch ms>, "msg": "To be, or not to be, that is the question:"}
Without --count it goes through the soliloquy again and again until Ctrl-C; with
--count N it sends N lines (the soliloquy has 33). Either way it flushes before it
exits and ends with FINAL {"delivered": N, "failed": N}.
"""

import argparse
import itertools
import json
import os
import sys
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="hamlet", help="topic to write to (default hamlet)")
parser.add_argument("--interval", type=float, default=0.5, help="seconds between lines (default 0.5)")
parser.add_argument("--count", type=int, help="send N lines, then exit (default: until Ctrl-C)")
parser.add_argument("--text", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "hamlet.txt"),
                    help="text file to send (default: the soliloquy)")
args = parser.parse_args()
with open(args.text, encoding="utf-8") as f:
    lines = [line.rstrip("\n") for line in f if line.strip()]

try:
    producer = KafkaProducer(bootstrap_servers=course.KAFKA_SERVER, bootstrap_timeout_ms=4000,
                             # how long a line may wait for the broker: then it fails
                             delivery_timeout_ms=course.DELIVERY_TIMEOUT_MS,
                             value_serializer=lambda value: json.dumps(value).encode("utf-8"))
except KafkaError:
    course.exit_no_broker()
delivered, failed = [], []


def report(line):
    """The delivery report of one line: the broker's acknowledgement (its address in
    the log, topic/partition/offset) or the error. Called on the producer's thread."""

    def on_delivery(metadata):
        delivered.append(metadata)
        print(f"delivered to {metadata.topic}/{metadata.partition}/{metadata.offset}: {line}",
              flush=True)

    def on_error(exc):
        failed.append(exc)
        print(f"delivery failed ({type(exc).__name__}: {exc}): {line}", file=sys.stderr, flush=True)

    return on_delivery, on_error


print(f"Sending the lines of {os.path.basename(args.text)} to topic {args.topic!r} at "
      f"{course.KAFKA_SERVER}, one every {args.interval:g} s (Ctrl-C stops)", flush=True)
ctrl_c = False
try:
    for n, line in enumerate(itertools.islice(itertools.cycle(lines), args.count), 1):
        # send() only buffers the message; the callbacks say what became of it.
        on_delivery, on_error = report(line)
        future = producer.send(args.topic, {"time": int(time.time() * 1000), "msg": line})
        future.add_callback(on_delivery).add_errback(on_error)
        if n != args.count:
            time.sleep(args.interval)
except KafkaTimeoutError:  # send() waited max_block_ms (60 s) for the topic's metadata:
    course.not_sent()       # no broker answers. Stop here: that message counts as failed
except KeyboardInterrupt:
    ctrl_c = True
    print("\nCtrl-C: flushing what was sent ...", file=sys.stderr, flush=True)
finally:
    # Without flush(), the messages still buffered would be lost. course.flush() calls
    # producer.flush(); after Ctrl-C it waits a few seconds at most for the broker.
    course.flush(producer, ctrl_c)
    producer.close()
sys.exit(course.producer_final(len(delivered), len(failed)))
