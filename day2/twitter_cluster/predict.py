"""Cluster live tweets from Kafka with the saved k-means model (Structured Streaming).

Usage: predict.py [--topic tweets] [--cluster N] [--model DIR] [--trigger SECONDS]
                  [--starting-offsets earliest|latest]
                  [--max-messages N] [--seconds S] [--batches N]

The streaming half of the original Twitter demo. Each micro-batch of tweets read
from Kafka goes through the pipeline that train.py saved: text -> character
bigrams -> hashed counts -> nearest k-means center = a cluster number. The model
is fixed here; it was trained once, in batch, and is only applied to the stream.

With --cluster N only the tweets of cluster N are printed (pick the language you
want to follow, as in the original); without it every tweet is printed with its
cluster, one JSON line each: {"cluster": 2, "lang": "es", "text": "..."} ("lang" is
the truth that came with the tweet, shown so you can judge the clusters).
A message that is not a tweet's JSON is reported and counted, never fatal.
The last line sums it up: FINAL {"tweets": ..., "shown": ..., "skipped": ...}

Without --max-messages / --seconds / --batches it runs until Ctrl-C.
Example: bash day2/twitter_cluster/run.sh predict --cluster 1
"""

import argparse
import json
import os
import sys

from pyspark.ml import PipelineModel
from tweet_stream import cut_short_by_stop, read_tweets

from spark_course import exit_unless_broker, run_query, spark_session

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "output", "model")



def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topic", default="tweets", help="Kafka topic (default: %(default)s)")
    parser.add_argument("--cluster", type=int, help="show only this cluster's tweets")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the model train.py saved")
    parser.add_argument("--trigger", type=float, default=2.0,
                        help="seconds between micro-batches, 0: as fast as possible"
                             " (default: %(default)s)")
    parser.add_argument("--starting-offsets", choices=["earliest", "latest"], default="earliest",
                        help="where a new run starts reading (default: %(default)s)")
    parser.add_argument("--max-messages", type=int, help="stop after about N messages")
    parser.add_argument("--seconds", type=float, help="stop after S seconds")
    parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
    args = parser.parse_args()

    if not os.path.isdir(os.path.join(args.model, "stages")):
        sys.exit(f"error: no model in {args.model}. "
                 "Train one first: bash day2/twitter_cluster/run.sh train")
    # What each cluster looked like in training (train.py wrote it beside the model)
    names_file = os.path.join(args.model, "clusters.json")
    names = json.load(open(names_file, encoding="utf-8")) if os.path.exists(names_file) else {}

    exit_unless_broker()
    spark = spark_session("twitter_cluster_predict", kafka=True)
    model = PipelineModel.load(args.model)

    # small batches: a backlog scrolls by, batch by batch
    tweets = read_tweets(spark, args.topic, args.starting_offsets, max_per_batch=200)
    # The saved pipeline works on a stream as on a table: it adds a "cluster" column.
    labelled = model.transform(tweets).select(
        "topic", "partition", "offset", "ok", "text", "lang", "cluster")

    totals = {"tweets": 0, "shown": 0, "skipped": 0}

    def show_batch(batch, batch_id):
        """Runs on the driver once per micro-batch: print what the stream produced."""
        try:
            rows = batch.orderBy("partition", "offset").collect()
        except Exception as error:
            if cut_short_by_stop(error):
                return
            raise
        shown = 0
        for row in rows:
            if not row.ok:
                totals["skipped"] += 1
                print(f"skipped: not a tweet (JSON with a \"text\") at "
                      f"{row.topic}/{row.partition}@{row.offset}", file=sys.stderr)
                continue
            totals["tweets"] += 1
            if args.cluster is None or row.cluster == args.cluster:
                shown += 1
                print(json.dumps({"cluster": row.cluster, "lang": row.lang, "text": row.text},
                                 ensure_ascii=False))
        totals["shown"] += shown
        print(f"-- batch {batch_id}: {shown} tweets shown", file=sys.stderr, flush=True)

    # A micro-batch every --trigger seconds (the original used 5 s DStream batches).
    # Between batches the query is idle, which is also where a bounded run stops cleanly.
    query = (labelled.writeStream.foreachBatch(show_batch)
             .trigger(processingTime=f"{round(args.trigger * 1000)} milliseconds").start())
    which = "all clusters" if args.cluster is None else (
        f"cluster {args.cluster} (mostly {names.get(str(args.cluster), '?')} in training)")
    print(f"clustering tweets from {args.topic} (from {args.starting_offsets}), showing {which}"
          f" ...", file=sys.stderr, flush=True)
    run_query(query, seconds=args.seconds, batches=args.batches, max_rows=args.max_messages)
    print("FINAL", json.dumps(totals), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
