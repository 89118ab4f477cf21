"""Word count with Spark's classic DStream API: the words of the `msg` texts on a
Kafka topic (what day1/simple_producer writes), counted per batch.

Usage:
    python simple_sparkstream.py [--topic test-topic] [--batch-seconds 10]
                                 [--seconds S] [--max-messages N] [--batches N]
    python simple_sparkstream.py --socket localhost:9999     # netcat mode: nc -lk 9999

A DStream is a sequence of RDDs, one per batch interval (10 s here, like the
original course). Every batch is an ordinary Spark job: the lines that arrived
during the interval are parsed, split into words, paired as (word, 1) and summed
with reduceByKey. Counts are per batch: the DStream API keeps no state unless you
ask for it (updateStateByKey, see day2/stateful_wordcount).

Where the lines come from. PySpark's DStream API has no Kafka connector any more
(it was removed in Spark 3), but it still reads text lines from a TCP socket
(socketTextStream). So in Kafka mode a small Kafka-to-socket bridge
(infra/python/kafka_socket_bridge.py) consumes the topic, as consumer group
`simple_sparkstream`, and writes each message value as one line to a local
socket that Spark's receiver reads. Each line is a JSON message
{"time": ..., "msg": "..."}; a line that is not such JSON is counted as malformed
and shown, never fatal. In netcat mode (--socket HOST:PORT) every line you type
into `nc -lk PORT` is a text to count.

Without --seconds/--max-messages/--batches it runs until Ctrl-C. Then it stops
without losing a line: the bridge stops writing, Spark's receiver reads what was
written, and a graceful stop processes every batch received. At the end it prints
the counts summed over all batches as one line: FINAL {...} (JSON).
Environment: KAFKA_SERVER (default localhost:9092), SPARK_MASTER (default local[*]).
The DStream API is deprecated since Spark 3.4 in favour of Structured Streaming
(day2/simple_structuredstreaming); it is still the clearest picture of micro-batches.
"""

import argparse
import json
import socket
import sys
import time
import warnings
from collections import Counter
from operator import add

from pyspark import StorageLevel

from kafka_socket_bridge import KafkaSocketBridge, warn_if_receiver_starves
from spark_course import KAFKA_SERVER, ctrl_c_requests_stop, exit_unless_broker, spark_session

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="test-topic", help="Kafka topic (default test-topic)")
parser.add_argument("--socket", metavar="HOST:PORT",
                    help="netcat mode: count the lines of a text socket instead of Kafka")
parser.add_argument("--batch-seconds", type=float, default=10.0,
                    help="batch interval in seconds (default 10)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages (lines)")
parser.add_argument("--batches", type=int, help="stop after N batches")
args = parser.parse_args()

if args.socket:
    host, _, port = args.socket.rpartition(":")
    if not host or not port.isdigit():
        parser.error("--socket wants HOST:PORT, for example localhost:9999")
    port = int(port)
    try:  # Spark's receiver would retry for ever, silently: check once, say it clearly
        socket.create_connection((host, port), timeout=3).close()
    except OSError:
        sys.exit(f"error: nothing listens on {host}:{port}. Start it first, in another "
                 f"terminal: nc -lk {port}")
else:
    exit_unless_broker()
warn_if_receiver_starves()

spark = spark_session("simple_sparkstream")
with warnings.catch_warnings():
    # "DStream is deprecated": known, and said in the docstring and the README.
    warnings.simplefilter("ignore", FutureWarning)
    from pyspark.streaming import StreamingContext

    ssc = StreamingContext(spark.sparkContext, args.batch_seconds)

# --- the source: a socket receiver (one core of the Spark master holds it) -----
bridge = None
if args.socket:
    print(f"Counting the words of the lines on {host}:{port} (try: nc -lk {port})")
else:
    bridge = KafkaSocketBridge(args.topic, server=KAFKA_SERVER, group_id="simple_sparkstream",
                               max_messages=args.max_messages)
    host, port = "127.0.0.1", bridge.port
    print(f"Counting the words of the msg texts on Kafka topic {args.topic!r} at {KAFKA_SERVER} "
          f"(bridged to a socket on port {port})")
print(f"Batches of {args.batch_seconds:g} s; Ctrl-C stops.", flush=True)
# One copy of each received block: the default (..._2) replicates it to a second
# executor for fault tolerance, and a laptop has no second executor to copy it to.
lines = ssc.socketTextStream(host, port, StorageLevel.MEMORY_AND_DISK)


def parse(line):
    """One Kafka message -> ("msg", its text), or ("malformed", the line)."""
    try:
        msg = json.loads(line)["msg"]
        if isinstance(msg, str):
            return ("msg", msg)
    except (ValueError, KeyError, TypeError):
        pass
    return ("malformed", line)


if args.socket:
    parsed = lines.map(lambda line: ("msg", line))  # netcat: every line is a text
else:
    parsed = lines.map(parse)

# --- the transformations: the same on every batch's RDD ------------------------
texts = parsed.filter(lambda kind_value: kind_value[0] == "msg").map(lambda kv: kv[1])
words = texts.flatMap(lambda text: text.split())
# One reduce partition: a batch holds a handful of words, not worth two tasks.
word_counts = words.map(lambda word: (word, 1)).reduceByKey(add, numPartitions=1)

# --- the output operations: run in this order for every batch, on the driver ---
total = Counter()  # words summed over all batches
seen = {"msg": 0, "malformed": 0, "batches": 0}
this_batch = {}


def count_messages(batch_time, rdd):
    """How many messages and malformed lines this batch has; show a few bad ones."""
    this_batch.clear()
    if rdd.getNumPartitions():  # an RDD of zero blocks: nothing arrived in this batch
        this_batch.update(rdd.map(lambda kv: kv[0]).countByValue())
    if this_batch.get("malformed"):
        for _, line in rdd.filter(lambda kv: kv[0] == "malformed").take(5):
            print(f"  malformed (not JSON with a 'msg' text), skipped: {line[:120]!r}")


def show_batch(batch_time, rdd):
    """Print this batch's word counts and add them to the total."""
    counts = dict(rdd.collect())
    n_msg, n_bad = this_batch.get("msg", 0), this_batch.get("malformed", 0)
    seen["msg"] += n_msg
    seen["malformed"] += n_bad
    seen["batches"] += 1
    total.update(counts)
    print("-------------------------------------------")
    print(f"Batch {batch_time:%H:%M:%S}: {n_msg} messages, {sum(counts.values())} words"
          + (f", {n_bad} malformed" if n_bad else ""))
    top = sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))
    for word, count in top[:10]:
        print(f"  {word:<20} {count}")
    if len(top) > 10:
        print(f"  ... and {len(top) - 10} more words")
    sys.stdout.flush()


parsed.foreachRDD(count_messages)
word_counts.foreachRDD(show_batch)


def limit_reached():
    """Has --max-messages or --batches been reached?"""
    if args.max_messages is not None and seen["msg"] + seen["malformed"] >= args.max_messages:
        return True
    return args.batches is not None and seen["batches"] >= args.batches


if bridge:
    bridge.count_received(ssc)  # a StreamingListener: lines per batch, for the stop below
    bridge.start()  # consumes nothing until Spark's receiver connects
ssc.start()

# --- run until a limit or Ctrl-C, then stop without losing a line --------------------
stop_requested = ctrl_c_requests_stop()  # Ctrl-C sets it (a second Ctrl-C exits at once)
started = time.monotonic()
while not stop_requested.is_set() and not ssc.awaitTerminationOrTimeout(0.2):
    if limit_reached() or (args.seconds and time.monotonic() - started >= args.seconds):
        break
if bridge:
    # Stopping Spark stops its receiver first: a line the bridge wrote (and committed)
    # but the receiver did not read yet would be lost. So: no more lines, and wait
    # until the receiver has handed every line written to a batch.
    written = bridge.drain(timeout_s=2 * args.batch_seconds + 10)
# A graceful stop: every batch received is processed first (up to two batch
# intervals, more if the batches lag behind).
ssc.stop(stopSparkContext=True, stopGraceFully=True)
if bridge:
    bridge.stop()  # commits, closes the socket
    if seen["msg"] + seen["malformed"] < written:
        print(f"warning: {written - seen['msg'] - seen['malformed']} lines the bridge wrote "
              "were not counted: lost (their offsets are committed)", file=sys.stderr)

print(f"Done: {seen['batches']} batches, {seen['msg']} messages, "
      f"{seen['malformed']} malformed, {sum(total.values())} words.")
print("FINAL " + json.dumps({"messages": seen["msg"], "malformed": seen["malformed"],
                             "words": dict(total.most_common())}), flush=True)
