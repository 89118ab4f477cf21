"""Copy a Kafka topic to another with Structured Streaming, micro-batch or real-time.

In micro-batches, or in Real-Time Mode: the lab (pipelines.py) times every message
through it.

Usage:
    bash advanced/latency_lab/run.sh pipelines      (the lab starts it, one mode after another)
    python structured_copy.py --topic IN --output OUT --checkpoint DIR
        [--trigger SECONDS | --real-time SECONDS] [--seconds S] [--max-messages N] [--batches N]

The query is the smallest there is: each record's key and value, unchanged, from
--topic to --output. What differs is how Spark runs it:

- micro-batches (--trigger S; 0: the next batch as soon as the last one ends). For
  each batch the driver asks Kafka for the latest offsets, writes them to the
  checkpoint's offsets/N, plans a small Spark job, runs it (a task per input
  partition reads its range and writes it to --output), then writes commits/N. A
  message waits for the batch after its arrival, and then for that whole batch.
- Real-Time Mode (--real-time S, Spark 4.1+): one long-running task per input
  partition reads and writes each record as it comes; there is no batch boundary
  for the data. Every S seconds (5 at least) the batch ends, the offsets are
  checkpointed, and a new batch starts: S is a checkpoint interval, not a latency.
  It holds one core per input partition for as long as it runs, needs the "update"
  output mode, and takes stateless queries only in Spark 4.2 (no aggregation, no
  foreachBatch, no Python UDF).
"""

import argparse
import sys

from kafka import KafkaAdminClient
from pyspark.sql import SparkSession

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", required=True, help="input topic")
parser.add_argument("--output", required=True, help="output topic")
parser.add_argument("--checkpoint", required=True, help="checkpoint folder (a new one per run)")
mode = parser.add_mutually_exclusive_group()
mode.add_argument("--trigger", type=float, default=0,
                  help="seconds between micro-batches (default 0: as soon as the last one ends)")
mode.add_argument("--real-time", type=float, metavar="SECONDS",
                  help="Real-Time Mode, checkpointing every SECONDS (at least 5)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N batches with data")
args = parser.parse_args()

course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("latency_lab_" + ("real_time" if args.real_time else "micro_batch"))
    # Spark's Kafka source and sink: org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0,
    # resolved once by bash setup.sh into infra/local/jars.
    .config("spark.jars", course.KAFKA_CONNECTOR_JARS)
    .getOrCreate()
)
if args.real_time:
    # One long-running task per input partition, each holding a core (a task slot) for
    # the whole batch: with fewer cores, some partitions would never be read.
    admin = KafkaAdminClient(bootstrap_servers=course.KAFKA_SERVER)
    partitions = len(admin.describe_topics([args.topic])[0]["partitions"])
    admin.close()
    cores = spark.sparkContext.defaultParallelism
    if cores < partitions:
        spark.stop()
        sys.exit(f"error: Real-Time Mode needs one core per input partition: topic {args.topic!r} has "
                 f"{partitions} partitions, SPARK_MASTER={course.SPARK_MASTER} gives {cores}. "
                 f"Fix: SPARK_MASTER=local[{partitions}] (or fewer partitions)")
print(f"Spark UI (the batches, live): {spark.sparkContext.uiWebUrl}")

records = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", course.KAFKA_SERVER)
    .option("subscribe", args.topic)
    .option("startingOffsets", "earliest")  # a new topic: every message, from the first
    .load()
)

writer = (
    records.select("key", "value").writeStream.format("kafka")
    .option("kafka.bootstrap.servers", course.KAFKA_SERVER)
    .option("topic", args.output)
    .option("checkpointLocation", args.checkpoint)
    .outputMode("update")  # Real-Time Mode's only mode; for a copy, the same as "append"
)
if args.real_time:
    writer = writer.trigger(realTime=f"{args.real_time:g} seconds")
else:
    writer = writer.trigger(processingTime=f"{args.trigger:g} seconds")
query = writer.start()
how = (f"in Real-Time Mode (a checkpoint every {args.real_time:g} s)" if args.real_time
       else f"in micro-batches (trigger {args.trigger:g} s)")
print(f"ready: copying {args.topic!r} to {args.output!r} {how}", flush=True)
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()
course.final(run)
spark.stop()
