"""Messages per sliding event-time window, with a watermark, on Kafka (Structured Streaming).

Usage: bash day2/windowed_sum/run.sh events [--topic TOPIC] [--starting-offsets earliest|latest]
    [--window S] [--slide S] [--watermark S] [--demo-late] [--trigger S]
    [--output-topic TOPIC] [--max-per-batch N] [--seconds S] [--max-messages N] [--batches N]

The Structured Streaming counterpart of the DStream window example. A DStream
window groups what *arrived* in the last seconds (processing time); here a window
groups messages by the time they *happened*: the "time" field (epoch ms) of the
simple_producer messages on test-topic, {"time": <epoch ms>, "msg": "Hello, World!"}.

    window("event_time", "10 seconds", "5 seconds")   10 s windows, one every 5 s
    withWatermark("event_time", "10 seconds")          wait 10 s for late events

The watermark is the newest event time seen so far minus 10 s. Spark keeps a
window's count (its state) until the watermark passes the window's end. An event
that arrives out of order is still counted in the windows that are open; in a
window the watermark has passed it is dropped: not counted, not an error. Each
micro-batch prints the windows it updated; after it, Spark reports the watermark
and how many rows it dropped as too late.

--demo-late shows it: once the first messages are counted, the job itself sends
one event an hour older than the newest one seen, and says what the watermark
implies: with the default watermark the next micro-batch drops it; with one of more
than an hour (--watermark 7200) its windows are still open, and it is counted.

Results flow back into Kafka: each micro-batch also writes the windows it updated to
--output-topic (default: the topic's name without "-topic", plus "-windows":
test-windows) with Spark's Kafka sink, as JSON {"start", "end", "count"} keyed by the
window's start: the newest message of a key is that window's count. The query's
checkpoint, checkpoints/<output topic> here, makes a new run resume where the last one
stopped (--starting-offsets only counts for a new checkpoint). After each micro-batch
the job adds {"watermark", "dropped", "batch"} (keyed "watermark").

A bounded run ends with FINAL {"messages", "malformed", "batches", "windows":
[[start, end, count], ...] (epoch ms), "dropped_late_rows", "late_event_time"}.
"""

import argparse
import json
import os

from kafka import KafkaProducer
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQueryListener

import course
from course import epoch_ms, hms

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
parser.add_argument("--output-topic", help="where the windows go (default test-windows for test-topic)")
parser.add_argument("--max-per-batch", type=int, help="at most N messages per micro-batch")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()
args.output_topic = args.output_topic or args.topic.removesuffix("-topic") + "-windows"
checkpoint = os.path.join(os.path.dirname(__file__), "checkpoints", args.output_topic)


course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("event_time_windows")
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
    """The sink: for every micro-batch, the windows it updated, printed on the driver and
    written to Kafka. foreachBatch gives one micro-batch's result as a DataFrame, to
    write anywhere a batch job can: several places, with one watermark and one state."""
    batch.persist()  # two actions below: compute the micro-batch's windows once
    rows = sorted(batch.collect())
    if rows:
        print(f"--- batch {batch_id}: windows updated")
    for row in rows:
        windows[row.start, row.end] = row["count"]
        print(f"    {hms(row.start)}-{hms(row.end)}  {row['count']:4d} messages", flush=True)
    # Spark's Kafka sink, as a batch job writes it: a key and a value column. Keyed by the
    # window's start, so that the newest message of a key is that window's count.
    (batch.select(F.col("start").cast("string").alias("key"), F.to_json(F.struct("*")).alias("value"))
     .write.format("kafka").option("kafka.bootstrap.servers", course.KAFKA_SERVER)
     .option("topic", args.output_topic).save())
    batch.unpersist()


late = {"dropped": 0, "time": None}
# The job's own producer: the late event of --demo-late, and the watermark for readers.
results = KafkaProducer(bootstrap_servers=course.KAFKA_SERVER)


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
            results.send(args.output_topic, key=b"watermark", value=json.dumps(  # beside the windows
                {"watermark": watermark or None, "dropped": dropped, "batch": p.batchId}).encode())
        if args.demo_late and late["time"] is None and "max" in p.eventTime:
            newest = epoch_ms(p.eventTime["max"])
            late["time"] = newest - 3600 * 1000  # an hour older
            value = json.dumps({"time": late["time"], "msg": "late!"}).encode()
            ack = results.send(args.topic, value).get(timeout=10)  # one message: wait for its ack
            # From now on the watermark is at least newest - watermark: the late event's
            # windows that end by then are closed, and Spark drops it from those.
            watermark, t, slide = newest - args.watermark * 1000, late["time"], args.slide * 1000
            ends = range(t - t % slide + args.window * 1000, t, -slide)  # of the windows it is in
            closed = sum(end <= watermark for end in ends)
            fate = {len(ends): "all its windows are closed: Spark will drop it",
                    0: "its windows are still open: Spark will count it"}.get(
                closed, f"{closed} of its {len(ends)} windows are closed: Spark counts it in the others")
            print(f"demo-late: delivered to {ack.topic}/{ack.partition}/{ack.offset} an event of "
                  f"{hms(t)}, an hour before the newest; watermark {hms(watermark)} or later: {fate}")

    def onQueryStarted(self, event):  # nothing to report
        pass

    def onQueryTerminated(self, event):
        pass


spark.streams.addListener(WatermarkReport())
# At-least-once into Kafka: with its checkpoint a stopped job resumes where it stopped,
# but a micro-batch that crashed after some of its writes runs again and writes them again.
query = (counts.writeStream.outputMode("update")  # each micro-batch: the windows it changed
         .foreachBatch(show).option("checkpointLocation", checkpoint)
         .trigger(processingTime=f"{args.trigger} seconds").start())
print(f"Counting the messages of {args.topic!r} per {args.window} s window every {args.slide} s of event "
      f"time, watermark {args.watermark} s; the windows also go to {args.output_topic!r} ...", flush=True)
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()
# course.final() waits until Spark has reported the query's end, after its last
# micro-batch: WatermarkReport, added first, has then heard of every micro-batch.
course.final(run, windows=[[s, e, n] for (s, e), n in sorted(windows.items())],
             dropped_late_rows=late["dropped"], late_event_time=late["time"])
results.flush()  # nothing the job published (the listener's messages) is lost
spark.stop()
