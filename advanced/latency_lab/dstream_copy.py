"""Copy a Kafka topic to another with Spark's classic DStream API.

In batches of --batch-seconds (1 s in the lab): the lab (pipelines.py) times every
message through it.

Usage:
    bash advanced/latency_lab/run.sh pipelines      (the lab starts it)
    python dstream_copy.py --topic IN --output OUT [--group ID] [--batch-seconds 1]
        [--seconds S] [--max-messages N] [--batches N]

PySpark's DStream API has no Kafka connector (removed in Spark 3): the course's bridge
(infra/python/kafka_socket_bridge.py) consumes --topic and writes each message to a
local socket as one line, `topic/partition/offset<TAB>value`; a receiver task reads
the socket and cuts what it reads into blocks. Every batch interval, the blocks
received so far become the batch's RDD, and its job runs: the lines are collected
to the driver (a JVM-only job: no Python worker to start) and their values written to
--output by a Kafka producer there (fine for thousands of small messages a second; at
scale each task would write its own partition).

A message waits for the end of its batch interval (half an interval on average),
then for the batch's job; the bridge and the receiver's blocks add their own hops.
"""

import argparse
import warnings

from kafka import KafkaProducer
from pyspark import SparkContext, StorageLevel
from pyspark.streaming import StreamingContext

import course
from kafka_socket_bridge import KafkaSocketBridge

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", required=True, help="input topic")
parser.add_argument("--output", required=True, help="output topic")
parser.add_argument("--group", help="the bridge's consumer group (default: <output>-bridge)")
parser.add_argument("--batch-seconds", type=float, default=1, help="batch interval (default 1)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N batches with data")
args = parser.parse_args()

course.check_broker()  # the bridge would otherwise wait for a broker for ever, silently
warnings.filterwarnings("ignore", "DStream is deprecated", FutureWarning)
sc = SparkContext(appName="latency_lab_dstream")
ssc = StreamingContext(sc, args.batch_seconds)
print(f"Spark UI (the batches, live): {sc.uiWebUrl}")

bridge = KafkaSocketBridge(args.topic, group_id=args.group or f"{args.output}-bridge",
                           max_messages=args.max_messages).start()
lines = ssc.socketTextStream(bridge.host, bridge.port, StorageLevel.MEMORY_AND_DISK)
# acks=1, no waiting for more records (linger 0): each batch's messages go out at once.
producer = KafkaProducer(bootstrap_servers=course.KAFKA_SERVER, acks=1, linger_ms=0,
                         enable_idempotence=False)


def write_batch(batch_time, rdd):
    """The batch's one output operation: bring its lines to the driver, send each value
    (the line without its address) as it came, flush, and check each delivery report."""
    sent = [producer.send(args.output, line.partition("\t")[2].encode()) for line in rdd.collect()]
    producer.flush()
    for delivery in sent:
        delivery.get(timeout=10)  # raises if the record was not written


lines.foreachRDD(write_batch)
run = course.stop_stream_when_done(ssc, args, bridge)  # limits and Ctrl-C; loses no line
ssc.start()
print(f"ready: copying {args.topic!r} to {args.output!r} in DStream batches of {args.batch_seconds:g} s",
      flush=True)
ssc.awaitTermination()
producer.close()
course.final(run)
