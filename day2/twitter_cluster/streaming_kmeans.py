"""The exercise of the original course, solved: k-means that learns on the stream.

Usage: bash day2/twitter_cluster/run.sh streaming-kmeans [--topic TOPIC] [--k K] [--decay D]
        [--seed S] [--starting-offsets earliest|latest] [--trigger S] [--max-per-batch N]
        [--seconds S] [--max-messages N] [--batches N]

train.py fits k-means once, in batch, and predict.py only applies it. Here nothing
is trained beforehand: MLlib's streaming k-means starts from k random centers and
moves them with every micro-batch of tweets read from Kafka (the mini-batch update
rule: assign each new tweet to its nearest center, then pull each center towards
the mean of its new tweets, weighted by how many tweets it has already seen).

--decay is the memory: 1.0 remembers every tweet seen (the centers settle down),
0.5 lets each batch count half as much as the one after it (the centers keep
following the stream, for languages that come and go). A center that gets no
tweets at all is revived by splitting the biggest cluster in two.

Per micro-batch one line says how far the centers moved in total (the sum of each
center's distance to where it was), how many tweets each cluster has absorbed, and
how pure this batch's clusters are against the true languages ("lang", used only
for this evaluation):
    BATCH {"batch": 7, "tweets": 60, "movement": 0.21, "purity": 0.95, "weights": [...]}
Without --seconds/--max-messages/--batches it runs until Ctrl-C. A bounded run ends
with FINAL {"messages", "malformed", "batches", "tweets", "purity_last"}.
"""

import argparse
import json
from collections import Counter, defaultdict

import numpy as np
from features import NUM_FEATURES, bigram_features
from pyspark.ml import PipelineModel
from pyspark.mllib.clustering import StreamingKMeans
from pyspark.mllib.linalg import Vectors
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="tweets", help="Kafka topic (default: %(default)s)")
parser.add_argument("--k", type=int, default=5,
                    help="number of clusters (default: 5, one per language the producer sends)")
parser.add_argument("--decay", type=float, default=1.0,
                    help="weight of the past per batch, 0..1 (default: %(default)s)")
parser.add_argument("--seed", type=int, default=7, help="seed of the random centers")
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

course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("twitter_cluster_streaming_kmeans")
    # Spark's Kafka source is a separate package of Spark's own version,
    # org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0 (spark-submit --packages ...);
    # bash setup.sh resolved it and its dependencies once, into infra/local/jars.
    .config("spark.jars", course.KAFKA_CONNECTOR_JARS)
    # MLlib's update runs in Python workers: this daemon imports pyspark.mllib once,
    # before it forks them (infra/python/mllib_daemon.py)
    .config("spark.python.daemon.module", "mllib_daemon")
    .getOrCreate()
)
print(f"Spark UI (the micro-batches, live): {spark.sparkContext.uiWebUrl}")

# k random centers (normal random numbers in each of the 1000 dimensions) with
# weight 0: the first tweets a center wins replace it entirely.
model = (StreamingKMeans(k=args.k, decayFactor=args.decay, timeUnit="batches")
         .setRandomCenters(NUM_FEATURES, 0.0, args.seed).latestModel())

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


print(f"Streaming k-means (k = {args.k}, decay {args.decay}) on the tweets of {args.topic!r} "
      f"at {course.KAFKA_SERVER} (from {args.starting_offsets})", flush=True)
query = (
    vectorized.writeStream.foreachBatch(learn_from_batch)
    .trigger(processingTime=f"{args.trigger} seconds")
    .start()
)
course.start_python_workers(spark.sparkContext)  # start-up: now, not in the first batch
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()
course.final(run, **counts)
spark.stop()
