"""The exercise of the original course, solved: k-means that learns on the stream.

Usage: streaming_kmeans.py [--topic tweets] [--k 5] [--decay 1.0] [--batch-size 60]
                           [--seed S] [--trigger SECONDS] [--starting-offsets earliest|latest]
                           [--batches N] [--seconds S] [--max-messages N]

train.py fits k-means once, in batch, and predict.py only applies it. Here nothing
is trained beforehand: MLlib's streaming k-means starts from k random centers and
moves them with every micro-batch of tweets read from Kafka (the mini-batch update
rule: assign each new tweet to its nearest center, then pull each center towards
the mean of its new tweets, weighted by how many tweets it has already seen).

--decay is the memory: 1.0 remembers every tweet seen (the centers settle down),
0.5 lets each batch count half as much as the previous one (the centers keep
following the stream, for languages that come and go). A center that gets no
tweets at all is revived by splitting the biggest cluster in two.

Per micro-batch one line says how far the centers moved in total (the sum of each
center's distance to where it was), how many tweets each cluster has absorbed, and
how pure this batch's clusters are against the true languages ("lang", used only
for this evaluation):
    BATCH {"batch": 7, "tweets": 60, "movement": 0.21, "purity": 0.95, "weights": [...]}
The last line: FINAL {"batches": ..., "tweets": ..., "skipped": ..., "purity_last": ...}

Without --batches / --seconds / --max-messages it runs until Ctrl-C.
Example: bash day2/twitter_cluster/run.sh streaming-kmeans --batches 10
"""

import argparse
import json
import sys
from collections import Counter, defaultdict

import numpy as np
from features import NUM_FEATURES, bigram_features
from pyspark.ml import PipelineModel
from pyspark.mllib.clustering import StreamingKMeans
from pyspark.mllib.linalg import Vectors
from tweet_stream import cut_short_by_stop, read_tweets

from spark_course import exit_unless_broker, run_query, spark_session


def batch_purity(pairs):
    """Share of (cluster, lang) pairs whose lang is their cluster's most common one."""
    clusters = defaultdict(Counter)
    for cluster, lang in pairs:
        clusters[cluster][lang] += 1
    return sum(c.most_common(1)[0][1] for c in clusters.values()) / max(1, len(pairs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topic", default="tweets", help="Kafka topic (default: %(default)s)")
    parser.add_argument("--k", type=int, default=5, help="number of clusters (default: %(default)s,"
                        " one per language the producer sends)")
    parser.add_argument("--decay", type=float, default=1.0,
                        help="weight of the past per batch, 0..1 (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=60,
                        help="at most this many tweets per micro-batch (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the random centers")
    parser.add_argument("--trigger", type=float, default=2.0,
                        help="seconds between micro-batches, 0: as fast as possible"
                             " (default: %(default)s)")
    parser.add_argument("--starting-offsets", choices=["earliest", "latest"], default="earliest",
                        help="where a new run starts reading (default: %(default)s)")
    parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
    parser.add_argument("--seconds", type=float, help="stop after S seconds")
    parser.add_argument("--max-messages", type=int, help="stop after about N messages")
    args = parser.parse_args()

    exit_unless_broker()
    spark = spark_session("twitter_cluster_streaming_kmeans", kafka=True)

    # k random centers (normal random numbers in each of the 1000 dimensions) with
    # weight 0: the first tweets a center wins replace it entirely.
    model = (
        StreamingKMeans(k=args.k, decayFactor=args.decay, timeUnit="batches")
        .setRandomCenters(NUM_FEATURES, 0.0, args.seed)
        .latestModel()
    )

    tweets = read_tweets(spark, args.topic, args.starting_offsets, max_per_batch=args.batch_size)
    # The same features as train.py: unit-length hashed character-bigram counts
    vectorized = PipelineModel(stages=bigram_features()).transform(tweets)

    totals = {"batches": 0, "tweets": 0, "skipped": 0, "purity_last": None}

    def learn_from_batch(batch, batch_id):
        """Runs on the driver once per micro-batch: one streaming k-means step."""
        try:
            rows = batch.select("topic", "partition", "offset", "ok", "lang", "features").collect()
            for row in rows:  # a micro-batch is small: we brought it to the driver
                if not row.ok:
                    totals["skipped"] += 1
                    print(f"skipped: not a tweet (JSON with a \"text\") at "
                          f"{row.topic}/{row.partition}@{row.offset}", file=sys.stderr)
            rows = [row for row in rows if row.ok]
            if not rows:
                return
            # MLlib's update wants dense MLlib vectors (it adds them up in place)
            vectors = [Vectors.dense(row.features.toArray()) for row in rows]

            before = np.array(model.centers)
            # The streaming k-means step, computed by Spark on an RDD of this batch's vectors
            model.update(spark.sparkContext.parallelize(vectors, 2), args.decay, "batches")
            movement = float(np.linalg.norm(np.array(model.centers) - before, axis=1).sum())
        except Exception as error:
            if cut_short_by_stop(error):
                return
            raise

        # Evaluation only: how well do this batch's clusters match the true languages?
        clusters = [model.predict(v) for v in vectors]
        purity = batch_purity([(c, row.lang) for c, row in zip(clusters, rows, strict=True)])
        totals["batches"] += 1
        totals["tweets"] += len(rows)
        totals["purity_last"] = round(purity, 4)
        print("BATCH", json.dumps({
            "batch": batch_id, "tweets": len(rows), "movement": round(movement, 4),
            "purity": round(purity, 4), "weights": [round(w) for w in model.clusterWeights],
        }), flush=True)

    # A micro-batch every --trigger seconds (the original used 5 s DStream batches).
    # Between batches the query is idle, which is also where a bounded run stops cleanly.
    query = (vectorized.writeStream.foreachBatch(learn_from_batch)
             .trigger(processingTime=f"{round(args.trigger * 1000)} milliseconds").start())
    print(f"streaming k-means (k = {args.k}, decay {args.decay}) on tweets from {args.topic} "
          f"(from {args.starting_offsets}) ...", file=sys.stderr, flush=True)
    run_query(query, seconds=args.seconds, batches=args.batches, max_rows=args.max_messages)
    print("FINAL", json.dumps(totals), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
