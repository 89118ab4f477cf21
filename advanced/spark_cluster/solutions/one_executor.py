"""Exercise 1, worked: the application gets one core (spark.cores.max=1), so one executor,
on one worker; that worker is killed mid-stream. The driver has no executor left: the
master starts a new one on the other worker, the query waits for it, then goes on, and
still counts every word exactly once.

Usage: bash advanced/spark_cluster/run.sh solutions/one_executor.py [--topic TOPIC]
           [--messages N] [--interval S] [--seconds S]

As failover.py, except: one executor instead of two, the worker killed is the one that
runs it, and the scenario shows the master start a new executor on the other worker. The last line:
RESULT {"workers_killed": 1, "expected": {...}, "counted": {...}, "exact": true,
"executor_replaced": true, "first_batch_after_kill_seconds": S}: the micro-batch that
waited for the new executor took S seconds.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default=time.strftime("spark-cluster-%H%M%S"), help="a new topic")
parser.add_argument("--messages", type=int, default=300, help="how many messages to produce (300)")
parser.add_argument("--interval", type=float, default=0.05, help="seconds between messages (0.05)")
parser.add_argument("--seconds", type=float, default=300, help="give up after S seconds (300)")
args = parser.parse_args()
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # advanced/spark_cluster
SPARK_SH = os.path.join(HERE, "../../infra/spark.sh")
DRIVER_LOG = os.path.normpath(os.path.join(HERE, "../../infra/local/spark/one_executor-driver.log"))
TEXTS = ["a worker dies", "the query goes on", "every word is counted once", "spark reads kafka"]
start = time.monotonic()


def say(text):
    print(f"[{time.monotonic() - start:5.1f} s] {text}", flush=True)


def executors(app):
    """Worker number -> the ids of this application's executors on it (None: the worker
    is down), from each worker's web UI, /json/."""
    found = {}
    for n in (1, 2):
        try:
            with urllib.request.urlopen(f"http://localhost:{8080 + n}/json/", timeout=3) as answer:
                found[n] = [e["id"] for e in json.load(answer)["executors"] if e["appid"] == app]
        except OSError:
            found[n] = None
    return found


def show(where):
    return ", ".join(f"worker {n}: " + ("down" if ids is None else f"executor {ids}" if ids else "none")
                     for n, ids in where.items())


course.check_broker()
admin = KafkaAdminClient(bootstrap_servers=course.KAFKA_SERVER)
try:
    admin.create_topics([NewTopic(args.topic, num_partitions=2, replication_factor=1)])
except TopicAlreadyExistsError:
    sys.exit(f"error: topic {args.topic!r} exists; the scenario needs a new one. Fix: --topic <a new name>")
admin.close()
spark = (
    SparkSession.builder.appName("spark_cluster_one_executor")  # the master is SPARK_MASTER
    # One core in all for this application: the master starts one executor (1 core).
    .config("spark.cores.max", "1")
    # org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0 and its dependencies (bash setup.sh):
    # the driver serves these jars, and every executor fetches them when it starts.
    .config("spark.jars", course.KAFKA_CONNECTOR_JARS)
    # The driver's log to a file: a lost executor makes Spark log errors, by design.
    .config("spark.driver.extraJavaOptions", f"-Dcourse.driver.log={DRIVER_LOG} "
            f"-Dlog4j2.configurationFile=file:{HERE}/log4j2-driver.properties")
    .getOrCreate()
)
app = spark.sparkContext.applicationId
say(f"application {app} on {spark.sparkContext.master}: see it in the master UI, http://localhost:8080")
while not any((where := executors(app)).values()) and time.monotonic() - start < 120:
    time.sleep(0.5)  # the master asks one worker to start an executor (a JVM) for us
# The worker that runs our only executor (none within 120 s: other applications hold the cores)
victim = next((n for n, ids in where.items() if ids), 0) or sys.exit("error: no executor within 120 s")
say(f"executors: {show(where)} (one JVM, 1 core)")

# Every executor reads and writes the checkpoint (offsets, state): here a folder on this
# machine; on a cluster of several machines, a file system they share (HDFS, S3, NFS ...).
checkpoint = os.path.join(HERE, "solutions", "checkpoints", args.topic)
records = (spark.readStream.format("kafka")
           .option("kafka.bootstrap.servers", course.KAFKA_SERVER)
           .option("subscribe", args.topic).option("startingOffsets", "earliest").load())
messages = records.select(F.from_json(F.col("value").cast("string"), "time LONG, msg STRING").alias("m"))
counts = messages.select(F.explode(F.split("m.msg", " ")).alias("word")).groupBy("word").count()
# The memory sink keeps the result table in the driver: "complete", the whole table.
query = (counts.writeStream.outputMode("complete").format("memory").queryName("word_counts")
         .option("checkpointLocation", checkpoint).start())
acked, killed, replaced, stalled = [], None, None, None


def show_batch(p):
    """Spark reports each micro-batch with data when it ends (course.py's listener calls this)."""
    global stalled
    say(f"batch {p['batchId']}: {p['numInputRows']} messages, {p['batchDuration'] / 1000:.1f} s")
    stalled = stalled or (replaced and p["batchDuration"] / 1000)  # the first after the kill


run = course.stop_query_when_done(query, argparse.Namespace(max_messages=args.messages, seconds=args.seconds),
                                  on_progress=show_batch)

producer = KafkaProducer(bootstrap_servers=course.KAFKA_SERVER, value_serializer=str.encode)


def produce():
    for i in range(args.messages):
        while i == args.messages // 3 and run.messages < i and query.isActive:
            time.sleep(0.1)  # the rest once the first third is counted: the executors are warm
        if not query.isActive:
            break
        future = producer.send(args.topic, json.dumps({"time": int(time.time() * 1000), "msg": TEXTS[i % 4]}))
        future.add_callback(lambda _, i=i: acked.append(i))
        time.sleep(args.interval)
    producer.flush()


threading.Thread(target=produce, daemon=True).start()
say(f"producing {args.messages} messages to {args.topic!r}, one every {args.interval:g} s")
while query.isActive:
    # Mid-stream: a third is counted, and a micro-batch of new messages is under way.
    if killed is None and run.messages >= args.messages // 3 and query.status["isDataAvailable"]:
        say(f"$ bash infra/spark.sh cluster kill {victim}   (the worker of our only executor: a crash)")
        subprocess.run(["bash", SPARK_SH, "cluster", "kill", str(victim)], check=True)
        killed = victim
    # The master sees that the application lost its only executor, and that the other
    # worker has a free core: it asks that worker to start a new executor (a new JVM).
    if killed and not replaced and any((now := executors(app)).values()):
        replaced = next(n for n, ids in now.items() if ids)
        say(f"executors: {show(now)}: a new one, starting; the micro-batch under way waits for it")
    time.sleep(0.1)
query.awaitTermination()
run.stopped.wait(60)  # every micro-batch reported and counted

say(f"read {run.messages} messages in {run.batches} micro-batches; executors: {show(executors(app))}")
counted = dict(sorted((row["word"], row["count"]) for row in spark.table("word_counts").collect()))
expected = dict(sorted(collections.Counter(w for i in acked for w in TEXTS[i % 4].split()).items()))
spark.stop()
producer.close()
with open(DRIVER_LOG, encoding="utf-8", errors="replace") as log:
    lines = re.findall(r"^\d\d:\d\d:\d\d (WARN|ERROR) (\S+): (.*)", log.read(), re.MULTILINE)
noise = collections.Counter(f"{logger} {level.lower()}s" for level, logger, _ in lines)
print(f"Spark's driver log (counted, not shown; infra/local/spark/one_executor-driver.log): {dict(noise)}")
if killed and run.messages < args.messages:  # Ctrl-C, or --seconds
    print(f"Stopped early: worker {killed} stays down. Back: bash infra/spark.sh cluster restart {killed}")
elif killed:
    say(f"$ bash infra/spark.sh cluster restart {killed}")
    subprocess.run(["bash", SPARK_SH, "cluster", "restart", str(killed)], check=True)
exact = counted == expected and len(acked) == args.messages
print("RESULT " + json.dumps({"workers_killed": int(killed is not None), "expected": expected,
                              "counted": counted, "exact": exact, "executor_replaced": bool(replaced),
                              "first_batch_after_kill_seconds": stalled}))
sys.exit(0 if exact and replaced else 1)
