"""Replay multilingual "tweets" into a Kafka topic, as a live Twitter stream would.

Usage: bash day2/twitter_cluster/run.sh producer [--topic TOPIC] [--count N]
        [--interval SECONDS] [--held-out] [--languages en,es,...] [--seed S]

Each message is UTF-8 JSON {"text": ..., "lang": ...} ("lang" is the truth, used
only to evaluate the clusters). The key is a hash of the text, so the same text
always goes to the same partition. The topic is created with 3 partitions if it
does not exist yet. The texts come from corpus.py, shuffled, round after round.

Every tweet the broker acknowledges is shown with its address (topic/partition/offset):
    [es] tweets/2/17 ¿Cuál fue el nombre del primer satélite artificial de la Tierra?
Without --count it runs until Ctrl-C; either way it flushes before it exits and
ends with FINAL {"delivered": N, "failed": N}. --held-out replays only the texts
that training kept aside.
"""

import argparse
import json
import random
import sys
import time

from corpus import LANGUAGES, is_held_out, load_corpus, text_key
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

import course

PARTITIONS = 3

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="tweets", help="Kafka topic (default: %(default)s)")
parser.add_argument("--count", type=int, help="send N tweets, flush, exit (default: until Ctrl-C)")
parser.add_argument("--interval", type=float, default=0.2,
                    help="seconds between tweets (default: %(default)s)")
parser.add_argument("--held-out", action="store_true", help="only the texts training kept aside")
parser.add_argument("--languages", default=",".join(LANGUAGES.values()),
                    help="comma-separated language codes (default: %(default)s)")
parser.add_argument("--seed", type=int, default=42, help="seed of the replay order")
args = parser.parse_args()

tweets = load_corpus(args.languages.split(","))
if args.held_out:
    tweets = [(t, lang) for t, lang in tweets if is_held_out(t)]
if not tweets:
    parser.error(f"no texts for the languages {args.languages}")

try:
    # A keyed topic with a few partitions: Spark reads the partitions in parallel.
    admin = KafkaAdminClient(bootstrap_servers=course.KAFKA_SERVER, bootstrap_timeout_ms=4000)
    try:
        admin.create_topics([NewTopic(args.topic, num_partitions=PARTITIONS, replication_factor=1)])
        print(f"created topic {args.topic} with {PARTITIONS} partitions", flush=True)
    except TopicAlreadyExistsError:
        pass
    admin.close()
    producer = KafkaProducer(bootstrap_servers=course.KAFKA_SERVER, bootstrap_timeout_ms=4000,
                             # how long a tweet may wait for the broker: then it fails
                             delivery_timeout_ms=course.DELIVERY_TIMEOUT_MS)
except KafkaError:
    course.exit_no_broker()

delivered = failed = 0


def delivery_report(lang, text, metadata):
    # Called once the broker has acknowledged the tweet: only now has it an address.
    global delivered
    delivered += 1
    print(f"[{lang}] {metadata.topic}/{metadata.partition}/{metadata.offset} {text}", flush=True)


def delivery_failed(text, exc):
    global failed
    failed += 1
    print(f"delivery failed: {exc!r}: {text}", file=sys.stderr, flush=True)


rng = random.Random(args.seed)
sent, ctrl_c = 0, False
try:
    while args.count is None or sent < args.count:
        if sent % len(tweets) == 0:
            rng.shuffle(tweets)  # a new random order each round
        text, lang = tweets[sent % len(tweets)]
        value = json.dumps({"text": text, "lang": lang}, ensure_ascii=False).encode("utf-8")
        # send() only buffers the tweet; the callbacks tell its outcome later.
        future = producer.send(args.topic, key=text_key(text).encode(), value=value)
        future.add_callback(delivery_report, lang, text).add_errback(delivery_failed, text)
        sent += 1
        if args.interval and (args.count is None or sent < args.count):
            time.sleep(args.interval)
except KafkaTimeoutError:  # send() waited max_block_ms (60 s) for the topic's metadata:
    course.not_sent()       # no broker answers. Stop here: that message counts as failed
except KeyboardInterrupt:
    ctrl_c = True
    print("\nCtrl-C: flushing what was sent ...", file=sys.stderr, flush=True)
finally:
    # Without flush(), tweets still in the buffer would be lost. course.flush() calls
    # producer.flush(); after Ctrl-C it waits a few seconds at most for the broker.
    course.flush(producer, ctrl_c)
    producer.close()
sys.exit(course.producer_final(delivered, failed))
