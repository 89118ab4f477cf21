"""Solution to exercise 4: the running word totals with transformWithState (Spark 4.1+),
the newer arbitrary-state API, instead of applyInPandasWithState.

Usage: bash day2/stateful_wordcount/run.sh solutions/transform_with_state.py [OPTIONS]
    (the options of wordcount_structured.py: --help lists them)

A StatefulProcessor is a class: init() declares the state it keeps (here one
ValueState per word, the total), handleInputRows() gets a word's new rows of a
micro-batch as an iterator of Rows (no pandas) and yields the rows to emit. The state
lives in the RocksDB state store, which transformWithState requires. What the class
adds over a function with one GroupState: several state variables per key (value,
list, map state), timers, and a time-to-live per state variable.

Messages are JSON {"time": ..., "msg": "<the line>"} (the simple_producer format); a
malformed one (course README, "What counts as malformed") is reported with its
topic/partition/offset and what is wrong, counted and skipped.
Without --seconds/--max-messages/--batches it runs until Ctrl-C; a bounded run ends
with FINAL {"messages", "malformed", "batches", "totals"}.
"""

import argparse

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StatefulProcessor

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="hamlet", help="Kafka topic (default hamlet)")
parser.add_argument("--starting-offsets", choices=["earliest", "latest"], default="earliest",
                    help="read the topic from its beginning (default) or only new lines")
parser.add_argument("--max-per-batch", type=int, help="at most N messages per micro-batch")
parser.add_argument("--trigger", type=float, default=0,
                    help="seconds between micro-batches (default 0: as soon as data arrives)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()


class RunningCount(StatefulProcessor):
    """Spark makes one per partition of the stream; handleInputRows runs once per word
    and micro-batch, with that word's state (its total so far) at hand."""

    def init(self, handle):
        self.total = handle.getValueState("total", "total LONG")  # one value per word

    def handleInputRows(self, key, rows, timerValues):
        (word,) = key
        total = (self.total.get()[0] if self.total.exists() else 0) + sum(1 for _ in rows)
        self.total.update((total,))
        yield Row(word=word, total=total)

    def close(self):
        pass


course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("stateful_wordcount_transform_with_state")
    # Spark's Kafka source: org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0, resolved
    # with its dependencies by bash setup.sh into infra/local/jars.
    .config("spark.jars", course.KAFKA_CONNECTOR_JARS)
    # transformWithState keeps its state in RocksDB (the default store cannot hold it).
    .config("spark.sql.streaming.stateStore.providerClass",
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider")
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
totals = words.groupBy("word").transformWithState(
    statefulProcessor=RunningCount(),
    outputStructType="word STRING, total LONG",
    outputMode="Update",  # each micro-batch emits only the words whose total changed
    timeMode="None",  # no timers: a word's state never expires
)
seen = {}  # every word's latest total, for the FINAL line


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
         .trigger(processingTime=f"{args.trigger} seconds").start())
print(f"Counting the words of topic {args.topic!r} at {course.KAFKA_SERVER} "
      f"(from {args.starting_offsets}) ...", flush=True)
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()
course.final(run, totals=dict(sorted(seen.items(), key=lambda wc: (-wc[1], wc[0]))))
spark.stop()
