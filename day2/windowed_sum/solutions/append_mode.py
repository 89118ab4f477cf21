"""Solution: event-time windows in "append" output mode.

Usage: bash day2/windowed_sum/run.sh solutions/append_mode.py [the options of event_time_windows.py]

The change (README exercise 3): outputMode("append") instead of "update". A window
is now printed once, final, when the watermark has passed its end (Spark will not
change it any more), and then dropped from the state: with the default watermark
of 10 s, about 10 s (of event time) after the window ends. In "update" mode a
window is printed at every micro-batch that changes it. Append is what a file or
a database sink wants: each row written once, never revised.

A bounded run ends with FINAL {"messages", "malformed", "batches", "windows":
[[start, end, count], ...] (epoch ms), "dropped_late_rows", "late_event_time"}.
"""

import argparse
import json
import threading
from datetime import datetime

from kafka import KafkaProducer
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQueryListener

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="test-topic", help="Kafka topic (default test-topic)")
parser.add_argument("--starting-offsets", choices=["earliest", "latest"], default="latest",
                    help="where a new query starts (default latest: only new messages)")
parser.add_argument("--window", type=int, default=10, help="window length, s (default 10)")
parser.add_argument("--slide", type=int, default=5, help="a new window every S s (default 5)")
parser.add_argument("--watermark", type=int, default=10,
                    help="how late (s behind the newest event) an event may be (default 10)")
parser.add_argument("--demo-late", action="store_true",
                    help="after the first counted messages, send an event 1 hour too old")
parser.add_argument("--trigger", type=float, default=0,
                    help="seconds between micro-batches (default 0: as soon as data arrives)")
parser.add_argument("--max-per-batch", type=int, help="at most N messages per micro-batch")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()


def hms(ms):
    return datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S")


def epoch_ms(iso):  # Spark's progress reports times as "2024-01-01T00:00:41.000Z"
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("append_mode")
    # Spark's Kafka source: org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0, the
    # package that bash setup.sh resolved into infra/local/jars.
    .config("spark.jars", course.KAFKA_CONNECTOR_JARS)
    .getOrCreate()
)
print(f"Spark UI: {spark.sparkContext.uiWebUrl}")

records = (
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
    records = records.option("maxOffsetsPerTrigger", args.max_per_batch)
# from_json is lenient ("time": "soon" gives a null, NaN a number): the course's check
# says what is malformed (course README, "What counts as malformed"), and why;
# reported after the batch.
messages = records.load().select(
    "topic", "partition", "offset", course.malformed_message("value").alias("why"),
    F.from_json(F.col("value").cast("string"), "time LONG, msg STRING").alias("m"))
malformed = F.col("why").isNotNull()
messages = messages.observe(
    "malformed",
    F.count(F.when(malformed, 1)).alias("count"),
    # "topic/partition/offset: why" (concat gives null for a good message: not collected)
    F.collect_list(F.concat(F.concat_ws("/", "topic", "partition", "offset"),
                            F.lit(": "), "why")).alias("at"),
)

# Event time: when the message was made (its "time" field), not when it arrived.
events = messages.where(~malformed).select(F.timestamp_millis("m.time").alias("event_time"))
counts = (
    events.withWatermark("event_time", f"{args.watermark} seconds")
    .groupBy(F.window("event_time", f"{args.window} seconds", f"{args.slide} seconds"))
    .count()
    .select(F.unix_millis("window.start").alias("start"), F.unix_millis("window.end").alias("end"),
            "count")
)

windows = {}


def show(batch, batch_id):
    """The sink: on the driver, for every micro-batch, the windows it closed."""
    rows = sorted(batch.collect())
    if rows:
        print(f"--- batch {batch_id}: windows closed by the watermark")
    for row in rows:
        windows[row.start, row.end] = row["count"]
        print(f"    {hms(row.start)}-{hms(row.end)}  {row['count']:4d} messages", flush=True)


late = {"dropped": 0, "time": None}
reported = threading.Event()  # set once the listener has heard of the query's end


class WatermarkReport(StreamingQueryListener):
    """After every micro-batch Spark reports its progress: the watermark it ran
    with, and the rows its window state dropped because they were too late."""

    def onQueryProgress(self, event):
        p = event.progress
        dropped = sum(op.numRowsDroppedByWatermark for op in p.stateOperators)
        late["dropped"] += dropped
        if p.numInputRows:
            watermark = epoch_ms(p.eventTime["watermark"]) if "watermark" in p.eventTime else 0
            print(f"    batch {p.batchId} ran with watermark {hms(watermark) if watermark else 'none yet'}"
                  + (f", DROPPED {dropped} late rows (one per window of a late event)"
                     if dropped else ""), flush=True)
        if args.demo_late and late["time"] is None and "max" in p.eventTime:
            late["time"] = epoch_ms(p.eventTime["max"]) - 3600 * 1000  # an hour older
            producer = KafkaProducer(bootstrap_servers=course.KAFKA_SERVER)
            value = json.dumps({"time": late["time"], "msg": "late!"}).encode()
            ack = producer.send(args.topic, value).get(timeout=10)  # one message: wait for its ack
            producer.close()
            print(f"demo-late: delivered to {ack.topic}/{ack.partition}/{ack.offset} an event of "
                  f"{hms(late['time'])}, an hour before the newest: behind the watermark, Spark "
                  "will drop it", flush=True)

    def onQueryTerminated(self, event):  # Spark reports it after the last micro-batch
        reported.set()

    def onQueryStarted(self, event):  # nothing to report
        pass


spark.streams.addListener(WatermarkReport())
query = (
    counts.writeStream.outputMode("append")  # a window once, when the watermark passed its end
    .foreachBatch(show)
    .trigger(processingTime=f"{args.trigger} seconds")
    .start()
)
print(f"Counting the messages of {args.topic!r} per {args.window} s window every {args.slide} s "
      f"of event time, watermark {args.watermark} s ...", flush=True)
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()

reported.wait(60)  # the listener runs asynchronously: let it see the last micro-batch
course.final(run, windows=[[s, e, n] for (s, e), n in sorted(windows.items())],
             dropped_late_rows=late["dropped"], late_event_time=late["time"])
spark.stop()
