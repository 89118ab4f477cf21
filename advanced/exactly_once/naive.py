"""Act 1 of the exactly-once lab: Spark's Kafka sink writes a replayed micro-batch
twice (at-least-once).

Usage:
    bash advanced/exactly_once/run.sh naive      (the act: run, kill -9, restart, count)
    python naive.py --topic IN --output OUT --checkpoint DIR [--stall]
                    [--seconds S] [--max-messages N] [--batches N]

A streaming query reads the JSON messages of --topic and writes them, upper-cased,
to the topic --output with Spark's Kafka sink. The key of each output record is
the address of its input message (topic/partition/offset).

The checkpoint is what makes the stream resumable: before a micro-batch runs,
Spark writes its input offsets (offsets/N); after its output is written, it
writes that the batch is done (commits/N). A job that dies between the two runs
batch N again when it restarts, with the same offsets: whatever the first attempt
had already written to Kafka is written a second time. The Kafka sink has no way
to know.

--stall is how the scenario makes its kill -9 land in that gap every time: in this
run, the task that handles input partition 1 hangs in the Python step (as a call
to a slow service might), while the task of partition 0 writes its messages to
--output and finishes. The batch is half written, and not done.
"""

import argparse
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", required=True, help="input topic")
parser.add_argument("--output", required=True, help="output topic")
parser.add_argument("--checkpoint", required=True, help="checkpoint folder")
parser.add_argument("--stall", action="store_true",
                    help="the task of input partition 1 hangs: the scenario's kill point")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()

course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("exactly_once_naive")
    # Spark's Kafka source and sink: org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0,
    # resolved once by bash setup.sh into infra/local/jars.
    .config("spark.jars", course.KAFKA_CONNECTOR_JARS)
    .getOrCreate()
)
print(f"Spark UI (the micro-batches, live): {spark.sparkContext.uiWebUrl}")
print(f"Copying {args.topic!r} to {args.output!r} with Spark's Kafka sink; checkpoint {args.checkpoint}",
      flush=True)

records = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", course.KAFKA_SERVER)
    .option("subscribe", args.topic)
    .option("startingOffsets", "earliest")  # the first run only: then the checkpoint decides
    .load()
)

stall = args.stall


@F.udf("string")
def shout(value, partition):
    """The work done per message, in Python (here: upper-case it)."""
    if stall and partition == 1:
        print("stalling: the task of input partition 1 hangs; partition 0's task goes on",
              file=sys.stderr, flush=True)
        time.sleep(3600)
    return value.upper()


out = records.select(
    F.concat_ws("/", "topic", "partition", "offset").alias("key"),
    shout(F.col("value").cast("string"), "partition").alias("value"),
)

# The sink: each task writes its rows to Kafka as it goes. If the batch is replayed,
# they are written again: the output topic gets duplicates.
query = (
    out.writeStream.format("kafka")
    .option("kafka.bootstrap.servers", course.KAFKA_SERVER)
    .option("topic", args.output)
    .option("checkpointLocation", args.checkpoint)
    .start()
)
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()
course.final(run)
spark.stop()
