"""Solution to exercise 1: act 3 killed in the middle of its transaction, after the
batch's messages are sent (and in the log) but before commit_transaction().

Usage:
    bash advanced/exactly_once/run.sh solutions/kill_before_commit.py   (act 3 with this job)
    python kill_before_commit.py --topic IN --output OUT --checkpoint DIR [--group ID] [--stall]
                                 [--seconds S] [--max-messages N] [--batches N]

The only change from transactional.py is where --stall hangs: after flush(), before
commit_transaction(). What happens then:
- run 1's messages are in the output topic's log, in a transaction that is still
  open: a read_committed reader sees none of them (it stops at the first open
  transaction), a read_uncommitted reader sees them all;
- run 2's producer has the same transactional_id: init_transactions() fences the
  killed producer and aborts its open transaction (without run 2, the broker would
  abort it after transaction.timeout.ms, 60 s here);
- the group's offsets were part of the aborted transaction, so they were never
  committed: the replayed batch is written again, and committed;
- the log now holds the batch twice (once aborted, once committed): 200 records for
  a read_uncommitted reader, 100 for a read_committed one, each message once.

Kafka's own exactly-once recipe (consume, transform, produce), with Spark as the
consumer:
- a producer with a stable transactional_id: when the job restarts, the new
  producer's init_transactions() fences the dead one and aborts any transaction
  it left open;
- per batch: begin_transaction(), send the output, send_offsets_to_transaction()
  (the batch's end offsets of the input, committed for the consumer group --group),
  commit_transaction(). The output and the input position commit together, or not;
- before writing, the batch keeps only the messages beyond the group's committed
  offsets: a replayed batch whose transaction had committed writes nothing;
- readers use isolation_level="read_committed": they never see the records of an
  aborted (or still open) transaction.

--stall: the first batch with data hangs once its messages are sent, before the commit.
"""

import argparse
import time

from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", required=True, help="input topic")
parser.add_argument("--output", required=True, help="output topic")
parser.add_argument("--checkpoint", required=True, help="checkpoint folder")
parser.add_argument("--group", help="the group whose offsets say how far the input is written "
                                     "(default OUTPUT-writer)")
parser.add_argument("--stall", action="store_true",
                    help="hang before the first batch is committed: the scenario's kill point")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()
group = args.group or f"{args.output}-writer"

try:
    admin = KafkaAdminClient(bootstrap_servers=course.KAFKA_SERVER, bootstrap_timeout_ms=4000)
    # The same transactional_id in every run of this query: the restarted job's
    # producer fences the killed one (its epoch is bumped), and the killed one's
    # open transaction, if any, is aborted.
    producer = KafkaProducer(bootstrap_servers=course.KAFKA_SERVER, bootstrap_timeout_ms=4000,
                             transactional_id=f"{args.output}-writer")
    producer.init_transactions()
except KafkaError:
    course.exit_no_broker()

spark = (
    SparkSession.builder.appName("exactly_once_kill_before_commit")
    # Spark's Kafka source: org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0,
    # resolved once by bash setup.sh into infra/local/jars.
    .config("spark.jars", course.KAFKA_CONNECTOR_JARS)
    .getOrCreate()
)
print(f"Spark UI (the micro-batches, live): {spark.sparkContext.uiWebUrl}")
print(f"Copying {args.topic!r} to {args.output!r} in Kafka transactions (progress in group {group!r});"
      f" checkpoint {args.checkpoint}", flush=True)

records = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", course.KAFKA_SERVER)
    .option("subscribe", args.topic)
    .option("startingOffsets", "earliest")  # the first run only: then the checkpoint decides
    .load()
)


def write_in_a_transaction(batch, batch_id):
    """foreachBatch: Spark calls this (in the driver) with each micro-batch and its
    id; a replayed batch comes again with the same id and the same messages."""
    rows = batch.select("topic", "partition", "offset",
                        F.upper(F.col("value").cast("string")).alias("value")).collect()
    # How far the output goes: the input offsets that earlier transactions committed.
    done = admin.list_group_offsets(group)[group]  # {TopicPartition: OffsetAndMetadata}
    next_offset = {tp: om.offset for tp, om in done.items()}  # the first one not written yet
    new = [r for r in rows if r.offset >= next_offset.get(TopicPartition(r.topic, r.partition), 0)]
    if rows and not new:
        print(f"batch {batch_id}: its {len(rows)} messages were committed by an earlier run "
              f"({', '.join(sorted({om.metadata for om in done.values()}))}): nothing to write", flush=True)
    if not new:
        return
    ends = {}
    for r in new:
        tp = TopicPartition(r.topic, r.partition)
        ends[tp] = max(ends.get(tp, 0), r.offset + 1)
    producer.begin_transaction()
    sent = [producer.send(args.output, key=f"{r.topic}/{r.partition}/{r.offset}".encode(),
                          value=r.value.encode()) for r in new]
    producer.send_offsets_to_transaction(
        {tp: OffsetAndMetadata(end, f"batch {batch_id}", -1) for tp, end in ends.items()}, group)
    if args.stall:  # the exercise: the kill lands here, in the open transaction
        producer.flush()  # the messages are in the log, not committed
        print(f"stalling: batch {batch_id}'s {len(new)} messages are sent, its transaction is still open",
              flush=True)
        time.sleep(3600)
    producer.commit_transaction()  # the output and the input offsets, atomically
    first, last = sent[0].get(timeout=10), sent[-1].get(timeout=10)  # delivery reports
    print(f"batch {batch_id}: {len(new)} messages committed to {args.output} (offsets "
          f"{first.offset}..{last.offset}), with the input offsets "
          + ", ".join(f"{tp.partition}:{end}" for tp, end in sorted(ends.items())), flush=True)


query = (
    records.writeStream.foreachBatch(write_in_a_transaction)
    .option("checkpointLocation", args.checkpoint)
    .start()
)
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()
course.final(run)
producer.close()
admin.close()
spark.stop()
