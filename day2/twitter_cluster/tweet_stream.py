"""The live tweet stream that predict.py and streaming_kmeans.py both read.

read_tweets() is the Kafka source as a table of tweets: one row per message, with
its address (topic, partition, offset), `ok` (false for a message that is not JSON
with a "text"), the text, and the true language (for evaluation only).
"""

from pyspark.sql.functions import coalesce, col, from_json, lit

from spark_course import KAFKA_SERVER

TWEET_SCHEMA = "text STRING, lang STRING"


def read_tweets(spark, topic, starting_offsets, max_per_batch):
    """The topic as an unbounded table of tweets; at most max_per_batch a micro-batch."""
    raw = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", KAFKA_SERVER)
        .option("subscribe", topic)
        .option("startingOffsets", starting_offsets)
        .option("maxOffsetsPerTrigger", max_per_batch)
        .load()
    )
    return raw.select(
        "topic", "partition", "offset",
        from_json(col("value").cast("string"), TWEET_SCHEMA).alias("tweet"),
    ).select(
        "topic", "partition", "offset",
        col("tweet.text").isNotNull().alias("ok"),  # false: not JSON, or no "text"
        coalesce(col("tweet.text"), lit("")).alias("text"),
        col("tweet.lang").alias("lang"),
    )


def cut_short_by_stop(error):
    """True when a Spark job of this micro-batch failed only because the query is
    being stopped (Ctrl-C, or the end of a bounded run) while the batch was running.
    Such a batch is dropped quietly, instead of ending the run with a stack trace."""
    text = str(error)
    return "SPARK_JOB_CANCELLED" in text or "InterruptedException" in text
