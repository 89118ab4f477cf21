"""The sum of the last two values with a DStream window, and union of two streams.

The Window example of the original course: the numbers 1..100 go into a queue,
queueStream(oneAtATime=True) hands Spark one number per 1 s batch, and two streams
are made from it:
    ("value", x)                  the number of this batch
    ("lastTwoSum", x + previous)  the sum over a 2 s window, i.e. the last two batches
joined with union and printed. The window slides every batch (1 s) and covers the
last 2 s: at the first batch it holds only x=1 (there is no previous value), so
lastTwoSum is 1 there, then 1+2=3, 2+3=5, ...

Usage:
    python windowed_sum_dstream.py [--count N] [--seconds S]

It stops after the batch with the last number (N, default 100) or after S seconds,
and then prints one machine-readable line with every (value, lastTwoSum) pair:
    FINAL {"pairs": [[1, 1], [2, 3], [3, 5], ...]}

Environment: SPARK_MASTER (default local[*]).
"""

import argparse
import json
import warnings

from spark_course import run_dstream, spark_session

BATCH_SECONDS = 1  # the batch interval, as in the original
WINDOW_SECONDS = 2  # the window length: two batches


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100,
                        help="stream the numbers 1..N, one per batch (default 100)")
    parser.add_argument("--seconds", type=float, help="stop after S seconds")
    args = parser.parse_args()

    # The DStream API is deprecated since Spark 3.4 (Structured Streaming replaces
    # it; see event_time_windows.py); it still runs, so we hide the warning.
    warnings.filterwarnings("ignore", category=FutureWarning)
    from pyspark.streaming import StreamingContext

    # A graceful stop lets the batches already generated finish; on a busy laptop
    # that can take longer than Spark's default wait (10 batch intervals).
    spark = spark_session("WindowedSumDStream",
                          extra_conf={"spark.streaming.gracefulStopTimeout": "60s"})
    sc = spark.sparkContext
    ssc = StreamingContext(sc, BATCH_SECONDS)

    # One RDD per number; oneAtATime=True: each batch takes the next one.
    queue = [sc.parallelize([x], 1) for x in range(1, args.count + 1)]
    original = ssc.queueStream(queue, oneAtATime=True)

    value = original.map(lambda x: ("value", x))
    # window(2 s) re-groups the last two 1 s batches into one RDD; transform turns
    # that RDD into a one-element RDD holding its sum.
    last_two_sum = (
        original.window(WINDOW_SECONDS, BATCH_SECONDS)
        .transform(lambda rdd: rdd.context.parallelize([rdd.sum()], 1))
        .map(lambda s: ("lastTwoSum", s))
    )
    output = ssc.union(value, last_two_sum)

    seen = {"pairs": []}

    def show(time, rdd):
        """Runs on the driver after every batch: print it like DStream.pprint()."""
        if len(seen["pairs"]) >= args.count:
            # All numbers are done and the stream is stopping; batches generated
            # in the meantime have no number. Without an action (collect) on their
            # RDD, Spark computes nothing for them.
            return
        records = rdd.collect()
        values = [v for k, v in records if k == "value"]
        if not values:  # no number in this batch (not expected before the end)
            return
        sums = [v for k, v in records if k == "lastTwoSum"]
        seen["pairs"].append([values[0], sums[0] if sums else None])
        print("-------------------------------------------")
        print(f"Time: {time}")
        print("-------------------------------------------")
        for record in records:
            print(record)
        print(flush=True)

    output.foreachRDD(show)

    print(f"Streaming 1..{args.count}, one number per {BATCH_SECONDS} s batch, "
          f"window {WINDOW_SECONDS} s ...", flush=True)
    ssc.start()
    run_dstream(ssc, seconds=args.seconds, batches_done=lambda: len(seen["pairs"]),
                batches=args.count)
    print("FINAL " + json.dumps({"pairs": seen["pairs"]}), flush=True)


if __name__ == "__main__":
    main()
