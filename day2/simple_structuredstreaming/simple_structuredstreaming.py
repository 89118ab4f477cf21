"""Running word count with Structured Streaming: the words of the `msg` texts on
a Kafka topic (what day1/simple_producer writes), counted since the first run.

Usage:
    python simple_structuredstreaming.py [--topic test-topic] [--checkpoint DIR]
                                         [--seconds S] [--max-messages N] [--batches N]

Structured Streaming treats the topic as an unbounded table and the word count as
an ordinary query on it: parse the JSON value with a schema (from_json), lower-case
`msg`, split it into words, groupBy(word).count(). Spark runs the query
incrementally, one micro-batch at a time, and keeps the running count of every
word in a state store. The console sink in "update" mode prints, after each
micro-batch, only the words whose count changed.

The checkpoint folder (default: checkpoints/<topic> next to this script) holds the
Kafka offsets of every micro-batch and the state. A restarted run goes on where the
last one stopped: nothing read twice, nothing skipped. The first run starts at the
earliest offsets. Delete the folder to start over.

A second query (foreachBatch) checks every message: a message that is not JSON,
or has no `msg` text, is malformed: shown with its partition and offset, counted,
skipped; the word count goes on.

Without --seconds/--max-messages/--batches it runs until Ctrl-C. At the end it
prints the running counts, read back from the checkpoint's state store, as one
line: FINAL {...} (JSON). Environment: KAFKA_SERVER (default localhost:9092),
SPARK_MASTER (default local[*]).
"""

import argparse
import json
import os
import time

from pyspark.errors import AnalysisException
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from spark_course import KAFKA_SERVER, exit_unless_broker, run_query, spark_session

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="test-topic", help="Kafka topic (default test-topic)")
parser.add_argument("--checkpoint", metavar="DIR",
                    help="checkpoint folder (default checkpoints/<topic> next to this script)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
checkpoint = args.checkpoint or os.path.join(here, "checkpoints", args.topic)

exit_unless_broker()
spark = spark_session("simple_structuredstreaming", kafka=True)
resuming = os.path.isdir(os.path.join(checkpoint, "counts", "commits"))
print(f"Word count of the msg texts on Kafka topic {args.topic!r} at {KAFKA_SERVER}")
if resuming:
    print(f"Checkpoint: {checkpoint} (resuming where the last run stopped)", flush=True)
else:
    print(f"Checkpoint: {checkpoint} (first run: from the earliest offsets)", flush=True)

# --- the source: the topic as an unbounded table (key, value, topic, partition, offset, ...)
records = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", KAFKA_SERVER)
    .option("subscribe", args.topic)
    .option("startingOffsets", "earliest")  # first run only: later, the checkpoint decides
    .load()
)

# --- parse the JSON value with a schema: a built-in function, no Python per row ----
schema = StructType([StructField("time", LongType()), StructField("msg", StringType())])
messages = records.select(
    "topic", "partition", "offset",
    F.col("value").cast("string").alias("value"),
).withColumn("message", F.from_json("value", schema))
# from_json gives nulls for a value that is not JSON; a JSON without "msg" has a null msg.
good = messages.where(F.col("message.msg").isNotNull())

# --- the running word count: a stateful aggregation ---------------------------------
words = good.select(F.explode(F.split(F.lower("message.msg"), r"\s+")).alias("word"))
counts = words.where(F.col("word") != "").groupBy("word").count()

count_query = (
    counts.writeStream.queryName("counts")
    .outputMode("update")  # print only the words whose count changed in this micro-batch
    .format("console")
    .option("truncate", False)
    .option("checkpointLocation", os.path.join(checkpoint, "counts"))
    .trigger(processingTime="1 second")  # at most one micro-batch a second
    .start()
)

# --- a second query checks every message: counts them, shows the malformed ones -----
checked = {"messages": 0, "malformed": 0}  # in this run


def check_messages(batch, batch_id):
    """Runs on the driver for every micro-batch of the second query (foreachBatch)."""
    bad = batch.where(F.col("message.msg").isNull()).select("topic", "partition", "offset",
                                                            "value")
    for row in bad.collect():
        print(f"malformed message (not JSON with a 'msg' text) at {row.topic}/{row.partition}"
              f"/{row.offset}, skipped: {(row.value or '')[:120]!r}", flush=True)
        checked["malformed"] += 1
    checked["messages"] += batch.count()


check_query = (
    messages.writeStream.queryName("check")
    .foreachBatch(check_messages)
    .option("checkpointLocation", os.path.join(checkpoint, "check"))
    .trigger(processingTime="1 second")
    .start()
)

# --- run until the limits (or Ctrl-C), then stop both queries -------------------------
run_query(count_query, seconds=args.seconds, batches=args.batches, max_rows=args.max_messages)


def end_offsets(query):
    """The Kafka offsets up to which a query has processed: {"topic": {"0": 42}}."""
    done = [p for p in query.recentProgress if p["sources"] and p["sources"][0]["endOffset"]]
    if not done:
        return {}
    end = done[-1]["sources"][0]["endOffset"]
    return json.loads(end) if isinstance(end, str) else end


# The second query reads the same topic on its own: let it catch up with where the
# count query stopped, so that every message counted is also checked.
target = end_offsets(count_query)
deadline = time.monotonic() + 30
while check_query.isActive and time.monotonic() < deadline:
    reached = end_offsets(check_query)
    if all(int(reached.get(t, {}).get(p, -1)) >= int(off)
           for t, parts in target.items() for p, off in parts.items()):
        break
    time.sleep(0.2)
if check_query.exception():
    print(f"error: the message check query failed: {check_query.exception().desc}")
check_query.stop()

# --- the running counts, read back from the checkpoint's state store ------------------
try:
    state = spark.read.format("statestore").load(os.path.join(checkpoint, "counts"))
    totals = {row.key.word: row.value["count"] for row in state.collect()}
except AnalysisException:  # no micro-batch has finished yet: no state
    totals = {}
top = sorted(totals.items(), key=lambda wc: (-wc[1], wc[0]))
print(f"Done: {checked['messages']} messages in this run, {checked['malformed']} malformed; "
      f"{len(totals)} distinct words counted since the first run.")
print("FINAL " + json.dumps({**checked, "words": dict(top)}), flush=True)
spark.stop()
