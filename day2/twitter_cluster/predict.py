"""Cluster live tweets from Kafka with the saved k-means model (Structured Streaming).

Usage: bash day2/twitter_cluster/run.sh predict [--topic TOPIC] [--cluster N] [--model DIR]
        [--starting-offsets earliest|latest] [--trigger S] [--max-per-batch N]
        [--seconds S] [--max-messages N] [--batches N]

The streaming half of the original Twitter demo. Each micro-batch of tweets read
from Kafka goes through the pipeline that train.py saved: text -> character
bigrams -> hashed counts -> nearest k-means center = a cluster number. The model
is fixed here: it was trained once, in batch, and is only applied to the stream.

With --cluster N only the tweets of cluster N are printed (pick the language you
want to follow, as in the original); without it every tweet is, one JSON line each:
    {"cluster": 4, "lang": "es", "at": "tweets/2/17", "text": "..."}
("lang" is the truth that came with the tweet, shown so that you can judge).
Without --seconds/--max-messages/--batches it runs until Ctrl-C. A bounded run ends
with FINAL {"messages", "malformed", "batches", "shown"}.
"""

import argparse
import json
import os
import sys

from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="tweets", help="Kafka topic (default: %(default)s)")
parser.add_argument("--cluster", type=int, help="show only this cluster's tweets")
parser.add_argument("--model", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "output", "model"),
                    help="the model train.py saved (default: output/model here)")
parser.add_argument("--starting-offsets", choices=["earliest", "latest"], default="earliest",
                    help="where the stream starts reading (default: %(default)s)")
parser.add_argument("--trigger", type=float, default=2.0,
                    help="seconds between micro-batches, 0: as soon as data arrives (default: 2)")
parser.add_argument("--max-per-batch", type=int, default=200,
                    help="at most N tweets per micro-batch (default: %(default)s)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()

if not os.path.isdir(os.path.join(args.model, "stages")):
    sys.exit(f"error: no model in {args.model}. Train one first: bash day2/twitter_cluster/run.sh train")
# What each cluster held in training (train.py wrote it beside the model)
with open(os.path.join(args.model, "clusters.json"), encoding="utf-8") as f:
    names = json.load(f)

course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("twitter_cluster_predict")
    # Spark's Kafka source is a separate package of Spark's own version,
    # org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0 (spark-submit --packages ...);
    # bash setup.sh resolved it and its dependencies once, into infra/local/jars.
    .config("spark.jars", course.KAFKA_CONNECTOR_JARS)
    .getOrCreate()
)
print(f"Spark UI (the micro-batches, live): {spark.sparkContext.uiWebUrl}")
model = PipelineModel.load(args.model)

# The source: the topic as an unbounded table; at most --max-per-batch rows a batch,
# so that a backlog scrolls by batch after batch.
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
# gives a null text, a "text" of 5 the text "5"): show_batch() checks each raw value.
tweets = records.select(
    F.concat_ws("/", "topic", "partition", "offset").alias("at"), "topic", "partition", "offset", "value",
    F.from_json(F.col("value").cast("string"), "text STRING, lang STRING").alias("tweet"),
).select("*", F.coalesce("tweet.text", F.lit("")).alias("text"), "tweet.lang")

# The transformation: the saved pipeline works on a stream as on a table; it adds
# the "cluster" column (the model's answer).
labelled = model.transform(tweets)
counts = {"malformed": 0, "shown": 0}


def show_batch(batch, batch_id):
    """The sink: runs on the driver once per micro-batch, with the batch as a DataFrame."""
    shown = 0
    # (sorted here, on the driver: an orderBy would make Spark read the batch twice)
    for row in sorted(batch.collect(), key=lambda r: (r.partition, r.offset)):
        try:  # a tweet's definition: course README, "What counts as malformed"
            course.parse_value(row.value, "tweet")
        except course.Malformed as why:
            course.skipped(row.topic, row.partition, row.offset, why)
            counts["malformed"] += 1
            continue
        if args.cluster is None or row.cluster == args.cluster:
            shown += 1
            print(json.dumps({"cluster": row.cluster, "lang": row.lang, "at": row.at,
                              "text": row.text}, ensure_ascii=False))
    counts["shown"] += shown
    print(f"-- batch {batch_id}: {shown} tweet{'' if shown == 1 else 's'} shown", file=sys.stderr, flush=True)


which = "every cluster" if args.cluster is None else (
    f"cluster {args.cluster} (mostly {names.get(str(args.cluster), '?')} in training)")
print(f"Clustering the tweets of {args.topic!r} at {course.KAFKA_SERVER} "
      f"(from {args.starting_offsets}), showing {which}", flush=True)
query = (
    labelled.writeStream.foreachBatch(show_batch)
    .trigger(processingTime=f"{args.trigger} seconds")
    .start()
)
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()
course.final(run, **counts)
spark.stop()
