"""Word count with Spark's classic DStream API: the words of the `msg` texts that
day1/simple_producer writes to a Kafka topic, counted per batch.

Usage: bash day1/simple_sparkstream/run.sh [wordcount] [--topic TOPIC] [--group GROUP]
           [--batch-seconds S] [--seconds S] [--max-messages N] [--batches N]

A DStream is a sequence of RDDs, one per batch interval (10 s here). Every batch is
an ordinary Spark job: the lines that arrived during the interval are parsed, split
into words, paired as (word, 1) and summed with reduceByKey. Counts are per batch: a
DStream keeps no state unless you ask for it (updateStateByKey, day2/stateful_wordcount).

PySpark's DStream API has no Kafka connector any more (removed in Spark 3), but it
reads text lines from a TCP socket. So a small bridge (infra/python/kafka_socket_bridge.py)
consumes the topic as consumer group `simple_sparkstream` (--group) and writes each message to
a local socket as one line, `topic/partition/offset<TAB>value`. A value that is not
simple_producer's JSON (course README, "What counts as malformed") is malformed: reported
with its address and what is wrong, counted, skipped.

Without --seconds/--max-messages/--batches it runs until Ctrl-C. It stops without
losing a line, and ends with FINAL {"messages", "malformed", "batches", "words"}.
"""

import argparse
import warnings
from collections import Counter
from operator import add

from pyspark import SparkContext, StorageLevel
from pyspark.streaming import StreamingContext

import course
from kafka_socket_bridge import KafkaSocketBridge

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="test-topic", help="Kafka topic (default test-topic)")
parser.add_argument("--group", default="simple_sparkstream", help="the bridge's consumer group")
parser.add_argument("--batch-seconds", type=float, default=10, help="batch interval (default 10)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N batches with data")
args = parser.parse_args()

course.check_broker()  # the bridge would otherwise wait for a broker for ever, silently
# DStreams are deprecated since Spark 3.4 in favour of Structured Streaming (day2); they
# are still the clearest picture of micro-batches: no need to say it on every run.
warnings.filterwarnings("ignore", "DStream is deprecated", FutureWarning)
sc = SparkContext(appName="simple_sparkstream")
ssc = StreamingContext(sc, args.batch_seconds)
print(f"Spark UI (the batches, live): {sc.uiWebUrl}")

bridge = KafkaSocketBridge(args.topic, group_id=args.group,
                           max_messages=args.max_messages).start()
print(f"Counting the words of topic {args.topic!r} at {course.KAFKA_SERVER} in batches "
      f"of {args.batch_seconds:g} s (bridged to port {bridge.port}); Ctrl-C stops.", flush=True)
# MEMORY_AND_DISK: one copy of each block. The default (..._2) copies every block to a
# second executor, for fault tolerance, and a laptop has no second executor.
lines = ssc.socketTextStream(bridge.host, bridge.port, StorageLevel.MEMORY_AND_DISK)


def parse(line):
    """'topic/partition/offset<TAB>{"time": ..., "msg": "..."}' -> what to count: the
    message once and each of its words, or the malformed message's address and why."""
    address, message, why = course.parse_line(line, "message")  # why: None, or what is wrong
    if why:
        return [("malformed", (*address, why))]
    return [("message", "")] + [("word", word) for word in message["msg"].split()]


# The transformations, declared once and run on every batch's RDD.
# The receiver cuts what it reads into a block every 200 ms (spark.streaming.blockInterval),
# and each block is one partition of the batch's RDD: 50 tasks of a few lines for a 10 s
# batch. coalesce(1) makes them one partition, one task (no shuffle: the blocks are local).
batch_lines = lines.transform(lambda rdd: rdd.coalesce(1))
# reduceByKey shuffles the pairs by key: one partition (one more task) is plenty here.
counts = batch_lines.flatMap(parse).map(lambda key: (key, 1)).reduceByKey(add, numPartitions=1)
total = Counter()  # the words summed over all batches


def show_batch(batch_time, rdd):
    """The one output operation: one Spark job per batch, then print on the driver."""
    result = rdd.collect()
    words = Counter({word: n for (kind, word), n in result if kind == "word"})
    malformed = sorted(where for (kind, where), _ in result if kind == "malformed")
    for where in malformed:
        course.skipped(*where)
    run.malformed += len(malformed)
    total.update(words)
    messages = sum(n for (kind, _), n in result if kind != "word")
    print(f"Batch {batch_time:%H:%M:%S}: {messages} messages ({len(malformed)} malformed), "
          f"{words.total()} words")
    if words:
        print("  top words: " + "  ".join(f"{w} ({n})" for w, n in words.most_common(5)))


counts.foreachRDD(show_batch)
run = course.stop_stream_when_done(ssc, args, bridge)  # limits and Ctrl-C; loses no line
ssc.start()
ssc.awaitTermination()
course.final(run, words=dict(sorted(total.items(), key=lambda wc: (-wc[1], wc[0]))))
