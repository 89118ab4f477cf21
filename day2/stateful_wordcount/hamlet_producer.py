"""Send Hamlet's soliloquy to Kafka, one line per message, for wordcount_structured.py.

Each message is UTF-8 JSON in the simple_producer format, with the line as "msg":
    {"time": <epoch ms>, "msg": "To be, or not to be, that is the question:"}

Usage:
    python hamlet_producer.py [--topic hamlet] [--interval SECONDS] [--count N]

Without --count it goes through the soliloquy again and again until Ctrl-C;
with --count N it sends N lines (the whole soliloquy is 33), flushes and exits.

Environment: KAFKA_SERVER (default localhost:9092).
"""

import argparse
import itertools
import json
import logging
import os
import time

from kafka import KafkaProducer

from spark_course import KAFKA_SERVER, exit_unless_broker

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", default="hamlet", help="topic to write to (default hamlet)")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds between lines (default 0.5)")
    parser.add_argument("--count", type=int, help="send N lines, then exit")
    parser.add_argument("--text", default=os.path.join(HERE, "hamlet.txt"),
                        help="text file to send (default: the soliloquy)")
    args = parser.parse_args()

    with open(args.text, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]

    exit_unless_broker()
    logging.getLogger("kafka").setLevel(logging.ERROR)
    producer = KafkaProducer(bootstrap_servers=KAFKA_SERVER)
    sent = 0
    try:
        for line in itertools.islice(itertools.cycle(lines), args.count):
            message = {"time": int(time.time() * 1000), "msg": line}
            producer.send(args.topic, json.dumps(message).encode("utf-8"))
            sent += 1
            print(f"sent to {args.topic}: {line}", flush=True)
            if args.interval > 0 and sent != args.count:
                time.sleep(args.interval)
    except KeyboardInterrupt:
        print("\nCtrl-C: flushing and stopping ...")
    finally:
        producer.flush()  # nothing is sent for sure before flush() or close()
        producer.close()
    print(f"sent {sent} lines to topic {args.topic} on {KAFKA_SERVER}")


if __name__ == "__main__":
    main()
