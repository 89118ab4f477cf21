"""Exercise 2's answer: where does a micro-batch's time go?

The micro-batch copy of structured_copy.py (trigger 0), which prints at its end what
Spark reports of every micro-batch with data, phase by phase
(StreamingQueryProgress.durationMs).

Usage:
    bash advanced/latency_lab/run.sh solutions/batch_anatomy.py [--quick]
        (the lab measures it beside "direct"; the phases are printed when it stops)
    python solutions/batch_anatomy.py --topic IN --output OUT [--checkpoint DIR]
        [--seconds S] [--max-messages N] [--batches N]

The phases of one micro-batch, in the order they run (see README.md):
    latestOffset     ask Kafka for the newest offset of each partition
    walCommit        write the batch's offset range to the checkpoint: offsets/N
    queryPlanning    plan the batch's Spark job for that range
    addBatch         run the job: its tasks read the range and write it to --output
    commitOffsets    write the batch's end to the checkpoint: commits/N
    triggerExecution all of it, from the trigger to the end of the batch
"""

import argparse
import shutil
import statistics
import tempfile

from pyspark.sql import SparkSession

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", required=True, help="input topic")
parser.add_argument("--output", required=True, help="output topic")
parser.add_argument("--checkpoint", help="checkpoint folder (default: a new temporary one)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()

checkpoint = args.checkpoint or tempfile.mkdtemp(prefix="batch_anatomy-")
course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("latency_lab_batch_anatomy")
    # Spark's Kafka source and sink: org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0,
    # resolved once by bash setup.sh into infra/local/jars.
    .config("spark.jars", course.KAFKA_CONNECTOR_JARS)
    # Keep the progress of the last 1000 micro-batches (100 by default) for the report
    .config("spark.sql.streaming.numRecentProgressUpdates", "1000")
    .getOrCreate()
)
records = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", course.KAFKA_SERVER)
    .option("subscribe", args.topic)
    .option("startingOffsets", "earliest")
    .load()
)
query = (
    records.select("key", "value").writeStream.format("kafka")
    .option("kafka.bootstrap.servers", course.KAFKA_SERVER)
    .option("topic", args.output)
    .option("checkpointLocation", checkpoint)
    .trigger(processingTime="0 seconds")
    .start()
)
print(f"ready: copying {args.topic!r} to {args.output!r} in micro-batches (trigger 0 s)", flush=True)
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()

# Every micro-batch with data but the first (it pays for compiling the query's code)
batches = [p for p in query.recentProgress if p["numInputRows"] > 0][1:]
phases = ["latestOffset", "walCommit", "queryPlanning", "addBatch", "commitOffsets", "triggerExecution"]
print(f"Where the time of {len(batches)} micro-batches went (ms; the first batch left out):")
print(f"{'phase':17} {'median':>7} {'p90':>7} {'max':>7}")
for phase in phases:
    ms = sorted(p["durationMs"].get(phase, 0) for p in batches) or [0]
    print(f"{phase:17} {statistics.median(ms):7.0f} {ms[int(0.9 * (len(ms) - 1))]:7.0f} {ms[-1]:7.0f}")
rows = [p["numInputRows"] for p in batches] or [0]
print(f"{'rows per batch':17} {statistics.median(rows):7.0f} {max(rows):>15}", flush=True)
course.final(run)
spark.stop()
if not args.checkpoint:
    shutil.rmtree(checkpoint)
