"""Solution: the window sum with reduceByKeyAndWindow, over a window of N batches.

Usage: bash day2/windowed_sum/run.sh solutions/reduce_by_key_and_window.py [--window-batches N]
    [--count N] [--batch-seconds S] [--seconds S]

The change (README exercise 1): reduceByKeyAndWindow(func, None, length, slide)
instead of window() + reduce: one call that reduces the values of each key over
the window. --window-batches N makes the window N batches long: "windowSum" is then
x plus the N-1 numbers before it (1, 3, 6, 9, 12, ... for N=3). With an inverse
function (lambda a, b: a - b instead of None) Spark would update the previous
window's sum instead of re-adding the window: that needs ssc.checkpoint(DIR), and
queueStream cannot be checkpointed (see solutions/README.md).

It stops after the batch with the last number (or after --seconds S, or Ctrl-C)
and ends with FINAL {"messages", "malformed", "batches", "pairs": [[x, windowSum], ...]}
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
parser.add_argument("--window-batches", type=int, default=3, help="window length in batches (3)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
args = parser.parse_args()
# DStreams are deprecated since Spark 3.4 (Structured Streaming replaces them, see
# event_time_windows.py); they still run: we hide the FutureWarning that says so.
warnings.filterwarnings("ignore", category=FutureWarning)

sc = SparkContext(appName="reduce_by_key_and_window")
ssc = StreamingContext(sc, args.batch_seconds)
print(f"Spark UI: {sc.uiWebUrl}")

# One RDD per number; oneAtATime=True: each batch takes the next one.
queue = [sc.parallelize([x], 1) for x in range(1, args.count + 1)]
original = ssc.queueStream(queue, oneAtATime=True)

value = original.map(lambda x: ("value", x))
# reduceByKeyAndWindow works on (key, value) pairs: one key here. Window length and
# slide, like window()'s, are multiples of the batch interval.
window_sum = original.map(lambda x: ("windowSum", x)).reduceByKeyAndWindow(
    lambda a, b: a + b, None, args.window_batches * args.batch_seconds, args.batch_seconds)
output = ssc.union(value, window_sum)

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
    pairs.append([dict(records)["value"], dict(records).get("windowSum")])


output.foreachRDD(show)

print(f"Streaming 1..{args.count}, one number per {args.batch_seconds:g} s batch, "
      f"window {args.window_batches} batches (reduceByKeyAndWindow) ...", flush=True)
run = course.stop_stream_when_done(ssc, args, queued=args.count)  # the last number, --seconds, Ctrl-C
ssc.start()
ssc.awaitTermination()
course.final(run, pairs=pairs)
