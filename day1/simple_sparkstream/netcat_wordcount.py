"""Netcount, the first Spark Streaming example of the original course (apache/spark's
network_wordcount.py): count the words of the lines typed into netcat, per batch.

Usage: bash day1/simple_sparkstream/run.sh netcat [--socket HOST:PORT]
           [--batch-seconds S] [--seconds S] [--max-messages N] [--batches N]

First start netcat in another terminal, `nc -lk 9999`, then type lines into it. Spark's
socket receiver connects to it as a client and reads lines; every second the lines
received become one RDD, and the words are counted with flatMap, map and reduceByKey.
Batches without a line print nothing. No Kafka here: what netcat sent is gone once
read, nobody can read it again (compare with the Kafka word count, the default part).

Without --seconds/--max-messages/--batches it runs until Ctrl-C; a bounded run ends
with FINAL {"messages" (lines), "malformed" (0), "batches", "words"}.
"""

import argparse
import socket
import sys
import warnings
from collections import Counter
from operator import add

from pyspark import SparkContext, StorageLevel
from pyspark.streaming import StreamingContext

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--socket", default="localhost:9999", metavar="HOST:PORT",
                    help="where netcat listens (default localhost:9999)")
parser.add_argument("--batch-seconds", type=float, default=1, help="batch interval (default 1)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N lines")
parser.add_argument("--batches", type=int, help="stop after N batches with lines")
args = parser.parse_args()
host, _, port = args.socket.rpartition(":")
if not host or not port.isdigit():
    parser.error("--socket wants HOST:PORT, for example localhost:9999")
port = int(port)
try:  # Spark's receiver would retry for ever, silently: check once, say it clearly
    socket.create_connection((host, port), timeout=3).close()
except OSError:
    sys.exit(f"error: nothing listens on {host}:{port}. Start it first, in another terminal: "
             f"nc -lk {port}")

warnings.filterwarnings("ignore", "DStream is deprecated", FutureWarning)  # see the README
sc = SparkContext(appName="netcat_wordcount")
ssc = StreamingContext(sc, args.batch_seconds)
print(f"Spark UI (the batches, live): {sc.uiWebUrl}")
print(f"Counting the words of the lines on {host}:{port}, in batches of {args.batch_seconds:g} s; "
      "Ctrl-C stops.", flush=True)

# The source: a receiver that reads lines from the socket (it holds one core for good).
lines = ssc.socketTextStream(host, port, StorageLevel.MEMORY_AND_DISK)
# The transformations, run again on every batch's RDD.
counts = lines.flatMap(lambda line: line.split()).map(lambda word: (word, 1)).reduceByKey(add)
total = Counter()  # the words summed over all batches


def show_batch(batch_time, rdd):
    """The one output operation (one Spark job per batch): print this batch's counts."""
    words = Counter(dict(rdd.collect()))
    total.update(words)
    if words:
        top = "  ".join(f"{word} ({n})" for word, n in words.most_common(10))
        print(f"Batch {batch_time:%H:%M:%S}: {words.total()} words: {top}", flush=True)


counts.foreachRDD(show_batch)
run = course.stop_stream_when_done(ssc, args)  # --seconds, --max-messages, --batches, Ctrl-C
ssc.start()
ssc.awaitTermination()
course.final(run, words=dict(sorted(total.items(), key=lambda wc: (-wc[1], wc[0]))))
