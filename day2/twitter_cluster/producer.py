"""Replay multilingual "tweets" into a Kafka topic, as a live Twitter stream would.

Usage: producer.py [--topic tweets] [--count N] [--interval SECONDS]
                   [--held-out] [--languages en,es,...] [--seed S]

Each message is UTF-8 JSON {"text": ..., "lang": ...} ("lang" is the truth, used
only to evaluate the clusters). The key is a hash of the text, so the same text
always goes to the same partition. The topic is created with 3 partitions if it
does not exist yet. The texts come from corpus.py, shuffled, round after round.

Without --count it runs until Ctrl-C; with --count N it sends N tweets, flushes
and exits. --held-out replays only the texts that training kept aside.

Example: bash day2/twitter_cluster/run.sh producer --count 200 --interval 0.05
"""

import argparse
import json
import logging
import os
import random
import sys
import time

from corpus import LANGUAGES, is_held_out, load_corpus, text_key
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

KAFKA_SERVER = os.environ.get("KAFKA_SERVER", "localhost:9092")
PARTITIONS = 3


def create_topic_if_missing(topic):
    """A keyed topic with a few partitions: Spark reads the partitions in parallel."""
    admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVER, bootstrap_timeout_ms=5000)
    try:
        if topic not in admin.list_topics():
            admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
            print(f"created topic {topic} with {PARTITIONS} partitions", file=sys.stderr)
    except TopicAlreadyExistsError:
        pass  # someone else created it just now
    finally:
        admin.close()


def tweets_forever(tweets, seed):
    """The corpus in a new random order each round."""
    rng = random.Random(seed)
    while True:
        rng.shuffle(tweets)
        yield from tweets


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topic", default="tweets", help="Kafka topic (default: %(default)s)")
    parser.add_argument("--count", type=int, help="send N tweets and exit (default: until Ctrl-C)")
    parser.add_argument("--interval", type=float, default=0.2,
                        help="seconds between tweets (default: %(default)s)")
    parser.add_argument("--held-out", action="store_true",
                        help="only the texts that training kept aside")
    parser.add_argument("--languages", default=",".join(LANGUAGES.values()),
                        help="comma-separated language codes (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the replay order")
    args = parser.parse_args()

    tweets = load_corpus(args.languages.split(","))
    if args.held_out:
        tweets = [(t, lang) for t, lang in tweets if is_held_out(t)]
    if not tweets:
        parser.error("no texts for these languages")

    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # one line instead of a retry log
    try:
        create_topic_if_missing(args.topic)
        producer = KafkaProducer(
            bootstrap_servers=KAFKA_SERVER,
            bootstrap_timeout_ms=5000,
        )
    except KafkaError:
        sys.exit(f"error: no Kafka broker answers on {KAFKA_SERVER}. "
                 "Start one: bash infra/kafka.sh start (or docker compose up -d kafka)")

    sent = 0
    try:
        for text, lang in tweets_forever(tweets, args.seed):
            if args.count is not None and sent >= args.count:
                break
            value = json.dumps({"text": text, "lang": lang}, ensure_ascii=False)
            producer.send(args.topic, key=text_key(text).encode(), value=value.encode("utf-8"))
            sent += 1
            print(f"[{lang}] {text}")
            time.sleep(args.interval)
    except KeyboardInterrupt:
        print("\nCtrl-C: flushing ...", file=sys.stderr)
    finally:
        producer.flush()
        producer.close()
    print(f"sent {sent} tweets to {args.topic}", file=sys.stderr)


if __name__ == "__main__":
    main()
