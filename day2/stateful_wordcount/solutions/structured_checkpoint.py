"""Solution to exercise 2: the structured job with a checkpoint, so that a restarted
run goes on with the totals where the last one stopped.

Usage: bash day2/stateful_wordcount/run.sh solutions/structured_checkpoint.py
           [--topic TOPIC] [--checkpoint DIR] [--starting-offsets earliest|latest]
           [--max-per-batch N] [--trigger S] [--seconds S] [--max-messages N] [--batches N]

The checkpoint (default: checkpoints/<topic> next to this script) holds, for every
micro-batch, the Kafka offsets it read (written before it runs) and the state store's
files: every word's total (written after). A restarted query reads both back: it
starts at the next offset, with the totals it had. Delete the folder to start over.

Messages are JSON {"time": ..., "msg": "<the line>"} (the simple_producer format); a
malformed one (course README, "What counts as malformed") is reported with its
topic/partition/offset and what is wrong, counted and skipped.
Without --seconds/--max-messages/--batches it runs until Ctrl-C; a bounded run ends
with FINAL {"messages", "malformed", "batches", "totals"}.
"""

import argparse
import os

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.state import GroupStateTimeout

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="hamlet", help="Kafka topic (default hamlet)")
parser.add_argument("--starting-offsets", choices=["earliest", "latest"], default="earliest",
                    help="without a checkpoint yet: from the beginning (default) or only new lines")
parser.add_argument("--checkpoint", help="checkpoint folder (default checkpoints/<topic> here)")
parser.add_argument("--max-per-batch", type=int, help="at most N messages per micro-batch")
parser.add_argument("--trigger", type=float, default=0,
                    help="seconds between micro-batches (default 0: as soon as data arrives)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()
checkpoint = args.checkpoint or os.path.join(os.path.dirname(__file__), "checkpoints", args.topic)


def running_count(key, batches, state):
    """The stateful function: Spark calls it once per word and micro-batch, with the
    word's new rows (pandas DataFrames) and its GroupState, the total so far, which
    Spark keeps in its state store between micro-batches (and saves in the checkpoint)."""
    (word,) = key
    total = (state.get[0] if state.exists else 0) + sum(len(rows) for rows in batches)
    state.update((total,))
    yield pd.DataFrame({"word": [word], "total": [total]})


course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("stateful_wordcount_structured_checkpoint")
    # Spark's Kafka source: org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0, resolved
    # with its dependencies by bash setup.sh into infra/local/jars.
    .config("spark.jars", course.KAFKA_CONNECTOR_JARS)
    .getOrCreate()
)
print(f"Spark UI (the micro-batches, live): {spark.sparkContext.uiWebUrl}")

# The source: the topic as a table (key, value, topic, partition, offset, timestamp).
reader = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", course.KAFKA_SERVER)
    .option("subscribe", args.topic)
    # After its read, each task asks Kafka for the partition's offsets, which the broker answers
    # only after the consumer's next fetch; it holds that fetch up to fetch.max.wait.ms (500 ms by
    # default) while no newer message exists (course README, "How fast a Spark exercise starts")
    .option("kafka.fetch.max.wait.ms", 10)
    .option("startingOffsets", args.starting_offsets)
)
if args.max_per_batch:
    reader = reader.option("maxOffsetsPerTrigger", args.max_per_batch)
schema = "time LONG, msg STRING"
messages = reader.load().select("topic", "partition", "offset",
                                F.from_json(F.col("value").cast("string"), schema).alias("m"),
                                course.malformed_message("value").alias("why"))
# A value that is not simple_producer's JSON (course README, "What counts as
# malformed"; from_json alone is lenient): malformed, and course.malformed_message()
# says why. observe() computes these metrics over every micro-batch; the course's
# helper reports and counts them.
malformed = F.col("why").isNotNull()
messages = messages.observe(
    "malformed",
    F.count(F.when(malformed, 1)).alias("count"),
    # "topic/partition/offset: why" (concat gives null for a good message: not collected)
    F.collect_list(F.concat(F.concat_ws("/", "topic", "partition", "offset"),
                            F.lit(": "), "why")).alias("at"),
)

# The word rule (as in wordcount_dstream.py): lower case; a word is a run of letters
# and apostrophes, without apostrophes at its ends.
words = (
    messages.where(~malformed)
    .select(F.explode(F.split(F.lower("m.msg"), "[^a-z']+")).alias("word"))
    .select(F.regexp_replace("word", "^'+|'+$", "").alias("word"))
    .where(F.col("word") != "")
)
# The stateful step: group the stream by word, keep a running total per word.
totals = words.groupBy("word").applyInPandasWithState(
    running_count,
    outputStructType="word STRING, total LONG",
    stateStructType="total LONG",
    outputMode="update",  # each micro-batch emits only the words whose total changed
    timeoutConf=GroupStateTimeout.NoTimeout,  # a word's state never expires
)
seen = {}  # the latest total of every word that changed in this run, for the FINAL line


def show(batch, batch_id):
    """The sink, on the driver, for every micro-batch: print the totals that changed."""
    changed = {row.word: row.total for row in batch.collect()}
    if changed:
        seen.update(changed)
        top = sorted(changed.items(), key=lambda wc: (-wc[1], wc[0]))
        print(f"--- batch {batch_id}: {len(changed)} totals changed, {len(seen)} words so far")
        print("    " + ", ".join(f"{w}={c}" for w, c in top[:12]) + (" ..." if len(top) > 12 else ""),
              flush=True)


query = (totals.writeStream.outputMode("update").foreachBatch(show)
         .option("checkpointLocation", checkpoint)  # the offsets read, and the state
         .trigger(processingTime=f"{args.trigger} seconds").start())
print(f"Counting the words of topic {args.topic!r} at {course.KAFKA_SERVER} "
      f"(checkpoint {checkpoint}) ...", flush=True)
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()
course.final(run, totals=dict(sorted(seen.items(), key=lambda wc: (-wc[1], wc[0]))))
spark.stop()
