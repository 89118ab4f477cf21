"""Exercise 2, solved: streaming k-means that starts from the centers train.py found.

Usage: bash day2/twitter_cluster/run.sh solutions/streaming_kmeans_warm_start.py
        [--model DIR] [--initial-weight W] [--topic TOPIC] [--decay D]
        [--seed S] [--starting-offsets earliest|latest] [--trigger S] [--max-per-batch N]
        [--seconds S] [--max-messages N] [--batches N]

streaming_kmeans.py starts from k random centers: its first batches are spent
finding the data (big movements, low purity). The change: the centers and k come
from the model train.py saved (setInitialCenters instead of setRandomCenters), each
center weighing --initial-weight tweets. The stream then only fine-tunes them, and
goes on learning from every micro-batch exactly as streaming_kmeans.py does.

Per micro-batch the same BATCH line as streaming_kmeans.py, and FINAL.
"""

import argparse
import json
import os
import sys
from collections import Counter, defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the lesson's folder
from features import bigram_features
from pyspark.ml import PipelineModel
from pyspark.mllib.clustering import StreamingKMeans
from pyspark.mllib.linalg import Vectors
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="tweets", help="Kafka topic (default: %(default)s)")
parser.add_argument("--model", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "..", "output", "model"),
                    help="the model train.py saved (default: output/model)")
parser.add_argument("--initial-weight", type=float, default=100.0,
                    help="how many tweets each saved center counts for (default: %(default)s)")
parser.add_argument("--decay", type=float, default=1.0,
                    help="weight of the past per batch, 0..1 (default: %(default)s)")
parser.add_argument("--starting-offsets", choices=["earliest", "latest"], default="earliest",
                    help="where the stream starts reading (default: %(default)s)")
parser.add_argument("--trigger", type=float, default=2.0,
                    help="seconds between micro-batches, 0: as soon as data arrives (default: 2)")
parser.add_argument("--max-per-batch", type=int, default=60,
                    help="at most N tweets per micro-batch (default: %(default)s)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()
if not os.path.isdir(os.path.join(args.model, "stages")):
    sys.exit(f"error: no model in {args.model}. Train one first: bash day2/twitter_cluster/run.sh train")

course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("twitter_cluster_streaming_kmeans_warm_start")
    # Spark's Kafka source is a separate package of Spark's own version,
    # org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0 (spark-submit --packages ...);
    # bash setup.sh resolved it and its dependencies once, into infra/local/jars.
    .config("spark.jars", course.KAFKA_CONNECTOR_JARS)
    .getOrCreate()
)
print(f"Spark UI (the micro-batches, live): {spark.sparkContext.uiWebUrl}")

# THE CHANGE: the centers of the batch model (the last stage of the saved pipeline)
# instead of random ones, each as heavy as --initial-weight tweets already seen.
centers = PipelineModel.load(args.model).stages[-1].clusterCenters()
model = (StreamingKMeans(k=len(centers), decayFactor=args.decay, timeUnit="batches")
         .setInitialCenters(centers, [args.initial_weight] * len(centers)).latestModel())

# The source: the topic as an unbounded table, at most --max-per-batch rows a batch.
records = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", course.KAFKA_SERVER)
    .option("subscribe", args.topic)
    # After its read, each task asks Kafka for the partition's offsets, which the broker answers
    # only after the consumer's next fetch; it holds that fetch up to fetch.max.wait.ms (500 ms by
    # default) while no newer message exists (course README, "How fast a Spark exercise starts")
    .option("kafka.fetch.max.wait.ms", 10)
    .option("startingOffsets", args.starting_offsets)
    .option("maxOffsetsPerTrigger", args.max_per_batch)
    .load()
)
# The value is JSON {"text": ..., "lang": ...}. from_json is lenient (anything else
# gives a null text, a "text" of 5 the text "5"): learn_from_batch() checks each raw value.
tweets = records.select(
    "topic", "partition", "offset", "value",
    F.from_json(F.col("value").cast("string"), "text STRING, lang STRING").alias("tweet"),
).select("*", F.coalesce("tweet.text", F.lit("")).alias("text"), "tweet.lang")
# The same features as train.py: unit-length hashed character-bigram counts
vectorized = PipelineModel(stages=bigram_features()).transform(tweets)
counts = {"malformed": 0, "tweets": 0, "purity_last": None}


def learn_from_batch(batch, batch_id):
    """The sink: runs on the driver once per micro-batch, one streaming k-means step."""
    rows = []
    for row in batch.select("topic", "partition", "offset", "value", "lang", "features").collect():
        try:  # a tweet's definition: course README, "What counts as malformed"
            course.parse_value(row.value, "tweet")
        except course.Malformed as why:
            course.skipped(row.topic, row.partition, row.offset, why)
            counts["malformed"] += 1
        else:
            rows.append(row)
    if not rows:
        return
    # MLlib's update wants dense MLlib vectors (it adds them up in place)
    vectors = [Vectors.dense(row.features.toArray()) for row in rows]
    before = np.array(model.centers)
    # The streaming k-means step, computed by Spark on an RDD of this batch's vectors
    model.update(spark.sparkContext.parallelize(vectors, 1), args.decay, "batches")
    movement = float(np.linalg.norm(np.array(model.centers) - before, axis=1).sum())

    # Evaluation only: how well do this batch's clusters match the true languages?
    clusters = defaultdict(Counter)
    for vector, row in zip(vectors, rows, strict=True):
        clusters[model.predict(vector)][row.lang] += 1
    purity = round(sum(c.most_common(1)[0][1] for c in clusters.values()) / len(rows), 4)
    counts["tweets"] += len(rows)
    counts["purity_last"] = purity
    print("BATCH", json.dumps({
        "batch": batch_id, "tweets": len(rows), "movement": round(movement, 4),
        "purity": purity, "weights": [round(w) for w in model.clusterWeights],
    }), flush=True)


print(f"Streaming k-means (k = {len(centers)}, from the saved centers, decay {args.decay}) on the "
      f"tweets of {args.topic!r} "
      f"at {course.KAFKA_SERVER} (from {args.starting_offsets})", flush=True)
query = (
    vectorized.writeStream.foreachBatch(learn_from_batch)
    .trigger(processingTime=f"{args.trigger} seconds")
    .start()
)
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()
course.final(run, **counts)
spark.stop()
