"""Running word count with Structured Streaming: the words of the `msg` texts that
day1/simple_producer writes to a Kafka topic, counted since the first run.

Usage:
    bash day2/simple_structuredstreaming/run.sh [--topic TOPIC] [--checkpoint DIR]
        [--trigger SECONDS] [--seconds S] [--max-messages N] [--batches N]

Structured Streaming treats the topic as an unbounded table, and the word count as
an ordinary query on it. Spark runs the query incrementally, one micro-batch at a
time, and keeps the running count of every word in a state store. The console sink
in "update" mode prints, after each micro-batch, only the words whose count changed.

The checkpoint folder (default: checkpoints/<topic> next to this script) holds the
Kafka offsets of every micro-batch and the state: a restarted run goes on exactly
where the last one stopped. Delete the folder to start over.

Without --seconds/--max-messages/--batches it runs until Ctrl-C. A bounded run ends
with FINAL {"messages", "malformed", "batches", "words"}: the words are the running
counts, read back from the checkpoint's state store.
"""

import argparse
import os

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="test-topic", help="Kafka topic (default test-topic)")
parser.add_argument("--checkpoint", help="checkpoint folder (default checkpoints/<topic> here)")
parser.add_argument("--trigger", type=float, default=0,
                    help="seconds between micro-batches (default 0: as soon as data arrives)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()
checkpoint = args.checkpoint or os.path.join(os.path.dirname(__file__), "checkpoints", args.topic)

course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("simple_structuredstreaming")
    # Spark's Kafka source is a separate package of Spark's own version,
    # org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0 (spark-submit --packages ...);
    # bash setup.sh resolved it and its dependencies once, into infra/local/jars.
    .config("spark.jars", course.KAFKA_CONNECTOR_JARS)
    .getOrCreate()
)
print(f"Spark UI (the micro-batches, live): {spark.sparkContext.uiWebUrl}")
print(f"Counting the words of topic {args.topic!r} at {course.KAFKA_SERVER}; checkpoint {checkpoint}",
      flush=True)

# The source: the topic as a table with key, value, topic, partition, offset, timestamp.
records = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", course.KAFKA_SERVER)
    .option("subscribe", args.topic)
    # After its read, each task asks Kafka for the partition's offsets, which the broker answers
    # only after the consumer's next fetch; it holds that fetch up to fetch.max.wait.ms (500 ms by
    # default) while no newer message exists (course README, "How fast a Spark exercise starts")
    .option("kafka.fetch.max.wait.ms", 10)
    .option("startingOffsets", "earliest")  # the first run only: then the checkpoint decides
    .load()
)

# The value is JSON {"time": ..., "msg": "..."}: from_json parses it with a schema, in
# the JVM. It is lenient (a "msg" of 5 becomes the text "5", a missing field a null), so
# course.malformed_message() checks the value against the course's definition of the
# format (course README, "What counts as malformed") and says what is wrong (null:
# nothing).
schema = "time LONG, msg STRING"
messages = records.select("topic", "partition", "offset",
                          F.from_json(F.col("value").cast("string"), schema).alias("m"),
                          course.malformed_message("value").alias("why"))
malformed = F.col("why").isNotNull()
# observe(): metrics computed over every micro-batch, reported with its progress (the
# course's helper prints each malformed message's address and why, and counts them).
messages = messages.observe(
    "malformed",
    F.count(F.when(malformed, 1)).alias("count"),
    # "topic/partition/offset: why" (concat gives null for a good message: not collected)
    F.collect_list(F.concat(F.concat_ws("/", "topic", "partition", "offset"),
                            F.lit(": "), "why")).alias("at"),
)

# The transformation: a running count per word, kept in Spark's state store.
words = messages.where(~malformed).select(F.explode(F.split(F.lower("m.msg"), r"\s+")).alias("word"))
counts = words.where(F.col("word") != "").groupBy("word").count()

# The sink: print the words whose count changed, after every micro-batch.
query = (
    counts.writeStream.outputMode("update")
    .format("console")
    .option("truncate", False)
    .option("checkpointLocation", checkpoint)
    .trigger(processingTime=f"{args.trigger} seconds")
    .start()
)
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()

# The running counts since the first run, read back from the checkpoint's state store.
if os.path.isdir(os.path.join(checkpoint, "state")):
    state = spark.read.format("statestore").load(checkpoint).collect()
    words = {row.key.word: row.value["count"] for row in state}
else:  # no micro-batch has run yet: no state
    words = {}
course.final(run, words=dict(sorted(words.items(), key=lambda wc: (-wc[1], wc[0]))))
spark.stop()
