"""How many times is a message processed? A Spark job copies a Kafka topic to a sink,
is killed with kill -9 in the middle of a micro-batch, and restarts from its
checkpoint. Three acts, three sinks: how many duplicates does each one end with?

Usage: bash advanced/exactly_once/run.sh [all|naive|idempotent|transactional]
           [--messages N] [--keep]

1. naive: Spark's Kafka sink (naive.py);
2. idempotent: foreachBatch upserts into SQLite (idempotent.py);
3. transactional: foreachBatch writes in Kafka transactions (transactional.py).

Each act: N numbered messages wait in a new topic of 2 partitions. Run 1 of the job
(--stall) hangs once its first micro-batch is written (all of it, or partition 0's
half for the Kafka sink) but before Spark records it in the checkpoint as done;
then the driver's Python, its JVM and Spark's Python workers get kill -9. Run 2,
from the same checkpoint, replays that batch. Then the output is counted: records,
distinct messages, duplicates, missing. Topics and checkpoints are per run (and
deleted at the end, unless --keep). The last line: RESULT {"sent": N, ...}.
"""

import argparse
import collections
import json
import os
import shutil
import signal
import sqlite3
import sys
import time
import uuid

from jobs import Job
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError

import course

HERE = os.path.dirname(os.path.abspath(__file__))
SINKS = {"naive": "Spark's Kafka sink", "idempotent": "upserts into SQLite",
         "transactional": "Kafka transactions, read with isolation_level=read_committed"}
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--acts", default="naive,idempotent,transactional", help="which acts, in order")
parser.add_argument("--messages", type=int, default=100, help="messages in the input topic (100)")
parser.add_argument("--job", help="a Spark job to run instead of the act's own (one act only)")
parser.add_argument("--keep", action="store_true", help="keep the topics and the checkpoints")
args = parser.parse_args()
acts = args.acts.split(",")
if not set(acts) <= SINKS.keys() or args.messages < 2 or (args.job and len(acts) > 1):
    parser.error("--acts takes naive, idempotent, transactional; --messages at least 2; --job one act")
run_id = time.strftime("%H%M%S-") + uuid.uuid4().hex[:4]
topic, work = f"exactly-once-{run_id}", os.path.relpath(os.path.join(HERE, "checkpoints", run_id))
outputs = {"naive": f"{topic}-naive", "idempotent": os.path.join(work, "idempotent.sqlite"),
           "transactional": f"{topic}-transactional"}
start, readers, job, results = time.monotonic(), {}, None, {"sent": args.messages}
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleaned up like Ctrl-C


def say(text):
    print(f"[{time.monotonic() - start:5.1f} s] {text}", flush=True)


def read(name, isolation):
    """How many times each message is in an output topic, for a reader with this
    isolation level (read_committed skips aborted and still open transactions)."""
    if (name, isolation) not in readers:
        consumer = KafkaConsumer(bootstrap_servers=course.KAFKA_SERVER, group_id=f"{name}-{isolation}",
                                 enable_auto_commit=False, auto_offset_reset="earliest",
                                 isolation_level=isolation)
        consumer.assign([TopicPartition(name, 0)])
        readers[name, isolation] = consumer, collections.Counter()
    consumer, seen = readers[name, isolation]
    while batch := consumer.poll(timeout_ms=300):
        seen.update(r.value for records in batch.values() for r in records)
        consumer.commit()
    return seen


def stored(act, isolation="read_committed"):
    if act != "idempotent":
        return read(outputs[act], isolation)
    with sqlite3.connect(outputs[act]) as db:
        return collections.Counter(value for (value,) in db.execute("SELECT value FROM messages"))


def batches(checkpoint, log):
    """The micro-batches in a log of the checkpoint: offsets/ (planned), commits/ (done)."""
    return ",".join(sorted(b for b in os.listdir(os.path.join(checkpoint, log)) if b.isdigit())) or "(none)"


def play(n, act):
    """One act: run 1 until it stalls after its write, kill -9, run 2, count."""
    global job
    print(f"\n== Act {n}, {act}: {SINKS[act]} ==", flush=True)
    script, checkpoint = args.job or os.path.join(HERE, f"{act}.py"), os.path.join(work, act)
    options = ["--topic", topic, "--output", outputs[act], "--checkpoint", checkpoint]
    say(f"run 1, with --stall ({os.path.basename(script)})")
    job = Job("run 1", script, *options, "--stall")
    written = landed[0] if act == "naive" else args.messages  # what run 1 writes before it stalls
    job.wait_until("a stall after the write", lambda: job.stalled.is_set()
                   and sum(stored(act, "read_uncommitted").values()) >= written)
    records = sum(stored(act, "read_uncommitted").values())
    say((f"the table holds {records} rows" if act == "idempotent" else f"the output topic holds {records} "
         f"records ({sum(stored(act).values())} for a read_committed reader)") + "; the checkpoint has "
        f"offsets/{batches(checkpoint, 'offsets')} and commits/{batches(checkpoint, 'commits')}")
    say(f"kill -9 {', '.join(job.kill_9())}: the driver's Python, its JVM and what they started are gone")
    say("run 2, from the same checkpoint: Spark replays the batch that is not done")
    job = Job("run 2", script, *options, "--batches", "1")
    if job.wait() != 0:
        sys.exit(f"error: run 2 of {act} exited {job.proc.returncode}; its output is above")
    seen = stored(act)
    records, dups, missing = sum(seen.values()), sum(seen.values()) - len(seen), args.messages - len(seen)
    results.update({f"{act}_records": records, f"{act}_duplicates": dups, f"{act}_missing": missing})
    if act == "transactional":  # what a read_uncommitted reader sees: aborted transactions too
        results["transactional_in_log"] = sum(stored(act, "read_uncommitted").values())
    say(f"act {n}, {act}: {args.messages} messages sent; the output holds {records} records"
        f" of {len(seen)} distinct messages: {dups} duplicates, {missing} missing")


try:
    course.check_broker()
    admin = KafkaAdminClient(bootstrap_servers=course.KAFKA_SERVER)
    admin.create_topics([NewTopic(topic, 2, 1), NewTopic(outputs["naive"], 1, 1),
                         NewTopic(outputs["transactional"], 1, 1)])
    os.makedirs(work)
    producer = KafkaProducer(bootstrap_servers=course.KAFKA_SERVER)
    sent = [producer.send(topic, partition=i % 2,
                          value=json.dumps({"time": int(time.time() * 1000), "msg": f"message {i}"}).encode())
            for i in range(args.messages)]
    producer.flush()
    landed = collections.Counter(f.get(timeout=10).partition for f in sent)  # delivery reports
    producer.close()
    say(f"sent {args.messages} messages to {topic}: {landed[0]} to partition 0, {landed[1]} to partition 1")
    for act in acts:
        play(list(SINKS).index(act) + 1, act)
except KafkaError:
    course.exit_no_broker()
except KeyboardInterrupt:
    print("\nCtrl-C: stopping the scenario ...", file=sys.stderr, flush=True)
    sys.exit(130)
finally:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: the clean-up goes on
    if job is not None and job.running():
        print(f"stopped the Spark job (kill -9 {', '.join(job.kill_9())})", file=sys.stderr)
    for consumer, _ in readers.values():
        consumer.close()
    if not args.keep and os.path.isdir(work):
        shutil.rmtree(work)
        if not os.listdir(os.path.dirname(work)):
            os.rmdir(os.path.dirname(work))
    if not args.keep and "admin" in globals():
        admin.delete_topics([topic, outputs["naive"], outputs["transactional"]], raise_errors=False)
        admin.delete_groups([f"{name}-{isolation}" for name, isolation in readers]
                            + [f"{outputs['transactional']}-writer"])
        admin.close()
print("RESULT " + json.dumps(results))
# As the lesson says: duplicates from the Kafka sink only, nothing missing anywhere.
zeros = [k for k in results if k.endswith("_missing")] + [
    k for k in ("idempotent_duplicates", "transactional_duplicates") if k in results]
sys.exit(0 if not any(results[k] for k in zeros) and results.get("naive_duplicates", 1) > 0 else 1)
