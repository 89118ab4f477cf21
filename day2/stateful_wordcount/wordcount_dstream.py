"""Running word totals over Hamlet's soliloquy with the DStream API: updateStateByKey.

Usage: bash day2/stateful_wordcount/run.sh [dstream] [--batch-seconds S]
           [--batches N] [--seconds S] [--checkpoint DIR] [--text FILE]

The Shakespeare example of the original course. The lines of "To be, or not to be"
go into a queue; queueStream(oneAtATime=True) hands Spark one line per batch; each
batch counts its words (stateless), and updateStateByKey carries a running total per
word from batch to batch (stateful). No Kafka here: the queue is the source.

It stops after the last line (or --batches N lines, or --seconds S, or Ctrl-C) and
ends with FINAL {"messages" (lines), "malformed" (0), "batches", "totals"}.
"""

import argparse
import os
import re
import shutil
import tempfile
import warnings

from pyspark import SparkContext
from pyspark.streaming import StreamingContext

import course

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batch-seconds", type=float, default=1, help="batch interval (default 1)")
parser.add_argument("--batches", type=int, help="stop after N batches: N lines (default: all)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--checkpoint", help="checkpoint folder (default: a new temporary one)")
parser.add_argument("--text", default=os.path.join(here, "hamlet.txt"),
                    help="text file, one line per batch (default: the soliloquy)")
args = parser.parse_args()
with open(args.text, encoding="utf-8") as f:
    lines = [line.rstrip("\n") for line in f if line.strip()]
# After the last line the queue is empty and every further batch is empty: stop there.
args.batches = min(args.batches or len(lines), len(lines))


def words(line):
    """The word rule of this exercise: lower case; a word is a run of letters and
    apostrophes, without apostrophes at its ends ("'Tis" -> "tis", "o'er" stays,
    "heart-ache" -> "heart", "ache")."""
    return [w.strip("'") for w in re.findall(r"[a-z']+", line.lower()) if w.strip("'")]


def update_total(new_counts, total):
    """updateStateByKey calls this for every word, at every batch: the word's counts
    in this batch (a list, maybe empty) and its total so far (None at first). What it
    returns is the word's new state (None would drop the word)."""
    return (total or 0) + sum(new_counts)


# DStreams are deprecated since Spark 3.4 in favour of Structured Streaming (see
# wordcount_structured.py); they still run: no need to say it on every run.
warnings.filterwarnings("ignore", "DStream is deprecated", FutureWarning)
sc = SparkContext(appName="stateful_wordcount_dstream")
ssc = StreamingContext(sc, args.batch_seconds)
print(f"Spark UI (the batches, live): {sc.uiWebUrl}")
# Stateful DStreams must checkpoint: every few batches Spark saves the state RDD here,
# so that its lineage (the chain of every batch that built it) does not grow for ever.
# (ssc.checkpoint(dir) would also save the DStream graph, to restart a failed driver;
# a queueStream cannot be saved that way, so the state RDDs only.)
checkpoint = args.checkpoint or tempfile.mkdtemp(prefix="stateful-wordcount-")
sc.setCheckpointDir(checkpoint)

# The source: one RDD per line; oneAtATime=True: each batch takes the next one.
line_stream = ssc.queueStream([sc.parallelize([line], 1) for line in lines[:args.batches]],
                              oneAtATime=True)
# The per-batch count (stateless) ... (1 partition: a line is tiny, more tasks cost time)
batch_counts = line_stream.flatMap(words).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b, 1)
# ... and the running total per word across batches (stateful).
totals = batch_counts.updateStateByKey(update_total, numPartitions=1)
shown = []  # the totals after each line: one entry per batch with a line


def show(batch_time, rdd):
    """The output operation, after every batch: print the line and the totals."""
    if len(shown) == args.batches:
        return  # the queue is empty: the stream is stopping, nothing to compute
    shown.append(dict(rdd.collect()))
    top = sorted(shown[-1].items(), key=lambda wc: (-wc[1], wc[0]))[:8]
    print(f"--- batch {len(shown)} at {batch_time:%H:%M:%S}: {lines[len(shown) - 1]}")
    print(f"    {len(shown[-1])} words, {sum(shown[-1].values())} in all; top: "
          + ", ".join(f"{w}={c}" for w, c in top), flush=True)


totals.foreachRDD(show)
print(f"Streaming {args.batches} lines, one per {args.batch_seconds:g} s batch "
      f"(checkpoint {checkpoint}) ...", flush=True)
run = course.stop_stream_when_done(ssc, args, queued=args.batches)  # the last line, --seconds, Ctrl-C
ssc.start()
ssc.awaitTermination()
totals = shown[-1] if shown else {}
# A queueStream has no receiver, Spark counts no records for it: we count the lines.
course.final(run.as_dict() | {"messages": len(shown), "batches": len(shown)},
             totals=dict(sorted(totals.items(), key=lambda wc: (-wc[1], wc[0]))))
if not args.checkpoint:
    shutil.rmtree(checkpoint, ignore_errors=True)  # the temporary one
