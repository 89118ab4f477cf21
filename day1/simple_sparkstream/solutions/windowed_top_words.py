"""Solution to exercise 2: the DStream word count, plus after every batch the three
most frequent words of the last 3 batches (30 s with the default 10 s batches).

Usage: bash day1/simple_sparkstream/run.sh solutions/windowed_top_words.py
           [--topic TOPIC] [--batch-seconds S] [--seconds S] [--max-messages N]
           [--batches N]

reduceByKeyAndWindow(add, None, window, slide) reduces the RDDs of the batches in the
window again after every slide (the DStream remembers them for the window's length).
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
sc = SparkContext(appName="windowed_top_words")
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


# The transformations, declared once and run on every batch's RDD. A batch's blocks
# (one every 200 ms) become one partition, one task (see simple_sparkstream.py).
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

# The change: the counts of the last 3 batches, updated every batch (a second output
# operation, so a second Spark job per batch).
window = 3 * args.batch_seconds
in_window = counts.reduceByKeyAndWindow(add, None, window, args.batch_seconds)
busiest = Counter()  # the window with the most words, for the FINAL line


def show_window(batch_time, rdd):
    """Print the three most frequent words of the window that ends with this batch."""
    words = Counter({word: n for (kind, word), n in rdd.collect() if kind == "word"})
    if words.total() > busiest.total():
        busiest.clear()
        busiest.update(words)
    top = "  ".join(f"{w} ({n})" for w, n in words.most_common(3))
    print(f"  last {window:g} s: {top or 'no words'}")


in_window.foreachRDD(show_window)
run = course.stop_stream_when_done(ssc, args, bridge)  # limits and Ctrl-C; loses no line
ssc.start()
ssc.awaitTermination()
course.final(run, words=dict(sorted(total.items(), key=lambda wc: (-wc[1], wc[0]))),
             busiest_window=dict(busiest.most_common()))
