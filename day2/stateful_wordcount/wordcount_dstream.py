"""Running word count over Hamlet's soliloquy with the DStream API and updateStateByKey.

The Shakespeare example of the original course: the lines of "To be, or not to be"
go into a queue, queueStream(oneAtATime=True) hands Spark one line per batch, each
batch counts its words, and updateStateByKey keeps a running total per word across
batches. State needs a checkpoint directory (Spark saves the state there, so that
its lineage does not grow with every batch).

Usage:
    python wordcount_dstream.py [--batches N] [--seconds S] [--batch-interval SECONDS]
                                [--checkpoint DIR] [--text FILE]

It stops after the last line of the text (or after --batches N lines, or --seconds
S) and then prints the final totals as one machine-readable line:
    FINAL {"totals": {"the": 19, "to": 15, ...}, "lines": 33}

Environment: SPARK_MASTER (default local[*]).
"""

import argparse
import json
import os
import re
import shutil
import tempfile
import warnings

from spark_course import run_dstream, spark_session

HERE = os.path.dirname(os.path.abspath(__file__))


def words(line):
    """The word rule of this exercise: lower case; a word is a run of letters and
    apostrophes, without apostrophes at its ends ("'Tis" -> "tis", "o'er" stays,
    "heart-ache" -> "heart", "ache")."""
    found = (w.strip("'") for w in re.findall(r"[a-z']+", line.lower()))
    return [w for w in found if w]


def update_total(new_counts, running_total):
    """updateStateByKey calls this once per word and batch: the counts of this
    batch (a list, maybe empty) and the total so far (None the first time)."""
    return (running_total or 0) + sum(new_counts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default=os.path.join(HERE, "hamlet.txt"),
                        help="text file, one line per batch (default: the soliloquy)")
    parser.add_argument("--batches", type=int, help="stop after N batches (lines)")
    parser.add_argument("--seconds", type=float, help="stop after S seconds")
    parser.add_argument("--batch-interval", type=float, default=1.0,
                        help="seconds per batch (default 1, as the original)")
    parser.add_argument("--checkpoint", help="checkpoint directory (default: a new temporary one)")
    args = parser.parse_args()

    with open(args.text, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    batches = min(args.batches or len(lines), len(lines))

    # The DStream API is deprecated since Spark 3.4 (Structured Streaming replaces
    # it; see wordcount_structured.py); it still runs, so we hide the warning.
    warnings.filterwarnings("ignore", category=FutureWarning)
    from pyspark.streaming import StreamingContext

    # A graceful stop lets the batches already generated finish; on a busy laptop
    # that can take longer than Spark's default wait (10 batch intervals).
    spark = spark_session("StatefulWordCountDStream",
                          extra_conf={"spark.streaming.gracefulStopTimeout": "60s"})
    sc = spark.sparkContext
    ssc = StreamingContext(sc, args.batch_interval)

    # Stateful DStreams must checkpoint: every few batches Spark saves the state
    # RDD to this directory, so that its lineage (the chain of all batches that
    # built it) does not grow for ever. The original called ssc.checkpoint(dir),
    # which also saves the DStream graph so that a restarted driver can recover;
    # a queueStream cannot be saved that way (Spark warns at every batch), so we
    # give Spark the directory for the state RDDs only.
    made_checkpoint = args.checkpoint is None
    checkpoint = args.checkpoint or tempfile.mkdtemp(prefix="stateful-wordcount-")
    sc.setCheckpointDir(checkpoint)

    # One RDD per line; oneAtATime=True: each batch takes the next RDD of the queue.
    queue = [sc.parallelize([line], 1) for line in lines[:batches]]
    line_stream = ssc.queueStream(queue, oneAtATime=True)

    # The per-batch word count (stateless) ...
    # (1 partition: a line of text is tiny, more tasks would only cost time.)
    pairs = line_stream.flatMap(words).map(lambda w: (w, 1))
    batch_counts = pairs.reduceByKey(lambda a, b: a + b, numPartitions=1)
    # ... and the running total per word across batches (stateful).
    totals = batch_counts.updateStateByKey(update_total, numPartitions=1)

    seen = {"batches": 0, "totals": {}}

    def show(time, rdd):
        """Runs on the driver after every batch: print the running totals."""
        n = seen["batches"] = seen["batches"] + 1
        if n > batches:
            # The text is done and the stream is stopping; batches generated in
            # the meantime have no new line. Without an action (collect) on their
            # RDD, Spark computes nothing for them.
            return
        current = seen["totals"] = dict(rdd.collect())
        line = lines[n - 1]
        top = sorted(current.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
        print(f"--- batch {n} at {time:%H:%M:%S}: {line}")
        print(f"    {len(current)} words, {sum(current.values())} in all; top: "
              + ", ".join(f"{w}={c}" for w, c in top), flush=True)

    totals.foreachRDD(show)

    print(f"Streaming {batches} lines, one per {args.batch_interval:g} s batch "
          f"(checkpoint: {checkpoint}) ...", flush=True)
    ssc.start()
    run_dstream(ssc, seconds=args.seconds, batches_done=lambda: seen["batches"],
                batches=batches)
    final = dict(sorted(seen["totals"].items(), key=lambda kv: (-kv[1], kv[0])))
    lines_done = min(seen["batches"], batches)
    if made_checkpoint:
        shutil.rmtree(checkpoint, ignore_errors=True)
    print("FINAL " + json.dumps({"totals": final, "lines": lines_done}), flush=True)


if __name__ == "__main__":
    main()
