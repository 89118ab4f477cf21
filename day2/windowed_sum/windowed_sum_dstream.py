"""The sum of the last two values with a DStream window, and union of two streams.

Usage: bash day2/windowed_sum/run.sh [dstream] [--count N] [--batch-seconds S] [--seconds S]

The Window example of the original course: the numbers 1..N go into a queue,
queueStream(oneAtATime=True) hands Spark one number per batch, and two streams
are made from it:
    ("value", x)                  the number of this batch
    ("lastTwoSum", x + previous)  the sum over a window of 2 batches (2 s)
joined with union and printed. The window slides every batch and covers the last
two: at the first batch it holds only x=1 (there is no previous value), so
lastTwoSum is 1 there, then 1+2=3, 2+3=5, ...

It stops after the batch with the last number (or after --seconds S, or Ctrl-C)
and ends with FINAL {"messages", "malformed", "batches", "pairs": [[1, 1], [2, 3], ...]}
(messages is 0: a queueStream has no receiver that counts records).
"""

import argparse
import warnings

from pyspark import SparkContext
from pyspark.streaming import StreamingContext

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--count", type=int, default=100,
                    help="stream the numbers 1..N, one per batch (default 100)")
parser.add_argument("--batch-seconds", type=float, default=1, help="batch interval (default 1)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
args = parser.parse_args()
# DStreams are deprecated since Spark 3.4 (Structured Streaming replaces them, see
# event_time_windows.py); they still run: we hide the FutureWarning that says so.
warnings.filterwarnings("ignore", category=FutureWarning)

sc = SparkContext(appName="windowed_sum_dstream")
ssc = StreamingContext(sc, args.batch_seconds)
print(f"Spark UI: {sc.uiWebUrl}")

# One RDD per number; oneAtATime=True: each batch takes the next one.
queue = [sc.parallelize([x], 1) for x in range(1, args.count + 1)]
original = ssc.queueStream(queue, oneAtATime=True)

value = original.map(lambda x: ("value", x))
# window(length, slide) re-groups the last two batches into one RDD (both durations
# must be multiples of the batch interval); reduce adds up its numbers.
last_two_sum = (
    original.window(2 * args.batch_seconds, args.batch_seconds)
    .reduce(lambda a, b: a + b)
    .map(lambda s: ("lastTwoSum", s))
)
output = ssc.union(value, last_two_sum)

pairs = []


def show(time, rdd):
    """Runs on the driver after every batch: print it like DStream.pprint()."""
    records = rdd.collect()
    if not any(k == "value" for k, _ in records):
        return  # the queue is empty: the stream is stopping
    print(f"-------------------------------------------\nTime: {time}\n"
          "-------------------------------------------")
    for record in records:
        print(record)
    print(flush=True)
    pairs.append([dict(records)["value"], dict(records).get("lastTwoSum")])


output.foreachRDD(show)

print(f"Streaming 1..{args.count}, one number per {args.batch_seconds:g} s batch, "
      f"window {2 * args.batch_seconds:g} s ...", flush=True)
run = course.stop_stream_when_done(ssc, args, queued=args.count)  # the last number, --seconds, Ctrl-C
ssc.start()
ssc.awaitTermination()
course.final(run, pairs=pairs)
