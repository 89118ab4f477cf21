"""Act 2 of the exactly-once lab: an idempotent sink. foreachBatch upserts every
micro-batch into a SQLite table keyed by each message's identity, so a replayed
batch overwrites its own rows instead of adding new ones.

Usage:
    bash advanced/exactly_once/run.sh idempotent   (the act: run, kill -9, restart, count)
    python idempotent.py --topic IN --output FILE.sqlite --checkpoint DIR [--stall]
                         [--seconds S] [--max-messages N] [--batches N]

The checkpoint replays a micro-batch that was not recorded as done (offsets/N
written, commits/N not), with the same offsets, hence the same messages. Writing
them a second time is harmless when the write is an upsert on a key that the
message carries: its address in Kafka, (topic, partition, offset). Replayable
source + checkpoint + idempotent sink = each message in the table exactly once.

--stall is how the scenario makes its kill -9 land after the write: the first batch
with data, once written (and committed in SQLite), hangs instead of returning to
Spark, which would then record it as done.
"""

import argparse
import sqlite3
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", required=True, help="input topic")
parser.add_argument("--output", required=True, help="the SQLite database file")
parser.add_argument("--checkpoint", required=True, help="checkpoint folder")
parser.add_argument("--stall", action="store_true",
                    help="hang after the first batch is written: the scenario's kill point")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()

with sqlite3.connect(args.output) as db:
    db.execute("""CREATE TABLE IF NOT EXISTS messages (
                    topic TEXT, partition INTEGER, offset INTEGER, value TEXT,
                    PRIMARY KEY (topic, partition, offset))""")
db.close()

course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("exactly_once_idempotent")
    # Spark's Kafka source: org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0,
    # resolved once by bash setup.sh into infra/local/jars.
    .config("spark.jars", course.KAFKA_CONNECTOR_JARS)
    .getOrCreate()
)
print(f"Spark UI (the micro-batches, live): {spark.sparkContext.uiWebUrl}")
print(f"Upserting {args.topic!r} into {args.output}; checkpoint {args.checkpoint}", flush=True)

records = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", course.KAFKA_SERVER)
    .option("subscribe", args.topic)
    .option("startingOffsets", "earliest")  # the first run only: then the checkpoint decides
    .load()
)
upserted = 0


def upsert(batch, batch_id):
    """foreachBatch: Spark calls this (in the driver) with each micro-batch as a
    DataFrame and its id; a replayed batch comes again with the same id."""
    global upserted
    rows = batch.select("topic", "partition", "offset", F.upper(F.col("value").cast("string"))).collect()
    if not rows:
        return
    db = sqlite3.connect(args.output)
    with db:  # one SQLite transaction per batch: all its rows, or none
        db.executemany("""INSERT INTO messages VALUES (?, ?, ?, ?)
                          ON CONFLICT (topic, partition, offset) DO UPDATE SET value = excluded.value""",
                       rows)
    stored = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    db.close()
    upserted += len(rows)
    print(f"batch {batch_id}: {len(rows)} messages upserted; the table holds {stored} rows", flush=True)
    if args.stall:
        print(f"stalling: batch {batch_id} is written, Spark has not recorded it as done", flush=True)
        time.sleep(3600)


query = (
    records.writeStream.foreachBatch(upsert)
    .option("checkpointLocation", args.checkpoint)
    .start()
)
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()
course.final(run, upserted=upserted)
spark.stop()
