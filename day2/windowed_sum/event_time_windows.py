"""Messages per sliding event-time window, with a watermark, on Kafka (Structured Streaming).

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
batch prints the windows it updated; after each batch Spark reports the watermark
and how many rows it dropped as too late.

--demo-late shows it: once the first messages have been counted, the job itself
sends one event an hour older than the newest one seen; the next batch drops it.

Usage:
    python event_time_windows.py [--topic test-topic] [--starting-offsets latest|earliest]
        [--window 10] [--slide 5] [--watermark 10] [--demo-late] [--max-per-batch N]
        [--max-messages N] [--seconds S] [--batches N]

At the end it prints one machine-readable line (window bounds in epoch ms):
    FINAL {"windows": [[start, end, count], ...], "messages": 41, "dropped_late_rows": 2,
           "bad_messages": 0, "late_event_time": 1704063611000}

Environment: KAFKA_SERVER (default localhost:9092), SPARK_MASTER (default local[*]).
"""

import argparse
import json
import logging
from datetime import datetime

from kafka import KafkaProducer
from pyspark.sql.functions import (
    col,
    collect_list,
    concat_ws,
    count,
    from_json,
    timestamp_millis,
    unix_millis,
    when,
    window,
)
from pyspark.sql.streaming import StreamingQueryListener

from spark_course import KAFKA_SERVER, exit_unless_broker, run_query, spark_session, wait_for_listener

HOUR_MS = 3600 * 1000


def hms(epoch_ms):
    """Epoch milliseconds as local HH:MM:SS."""
    return datetime.fromtimestamp(epoch_ms / 1000).strftime("%H:%M:%S")


def iso_ms(text):
    """Spark's progress times ("2024-01-01T00:00:41.000Z") as epoch milliseconds."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", default="test-topic", help="topic to read (default test-topic)")
    parser.add_argument("--starting-offsets", choices=["latest", "earliest"], default="latest",
                        help="only new messages (default) or the topic from its beginning")
    parser.add_argument("--window", type=int, default=10, help="window length, s (default 10)")
    parser.add_argument("--slide", type=int, default=5, help="a new window every S s (default 5)")
    parser.add_argument("--watermark", type=int, default=10,
                        help="how late (s behind the newest event) an event may be (default 10)")
    parser.add_argument("--demo-late", action="store_true",
                        help="after the first counted messages, send an event 1 hour too old")
    parser.add_argument("--max-per-batch", type=int,
                        help="at most N messages per micro-batch (maxOffsetsPerTrigger)")
    parser.add_argument("--max-messages", type=int, help="stop after N messages")
    parser.add_argument("--seconds", type=float, help="stop after S seconds")
    parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
    args = parser.parse_args()

    exit_unless_broker()
    spark = spark_session("EventTimeWindows", kafka=True)

    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", KAFKA_SERVER)
        .option("subscribe", args.topic)
        .option("startingOffsets", args.starting_offsets)
    )
    if args.max_per_batch:
        reader = reader.option("maxOffsetsPerTrigger", args.max_per_batch)
    messages = reader.load().select(
        "topic", "partition", "offset",
        from_json(col("value").cast("string"), "time LONG, msg STRING").alias("m"),
    )
    # Bad input (not JSON, or no numeric "time") is counted, not fatal: observe()
    # computes these metrics over every micro-batch; Spark reports them with the
    # batch's progress (see WatermarkReport below).
    bad = col("m.time").isNull()
    messages = messages.observe(
        "bad_input",
        count(when(bad, 1)).alias("count"),
        collect_list(when(bad, concat_ws("/", "topic", "partition", "offset"))).alias("where"),
    )

    # Event time: when the message was made (its "time" field), not when it arrived.
    events = messages.where(col("m.time").isNotNull()).select(
        timestamp_millis(col("m.time")).alias("event_time")
    )
    counts = (
        events.withWatermark("event_time", f"{args.watermark} seconds")
        .groupBy(window("event_time", f"{args.window} seconds", f"{args.slide} seconds"))
        .count()
        .select(unix_millis(col("window.start")).alias("start"),
                unix_millis(col("window.end")).alias("end"), "count")
    )

    seen = {"windows": {}, "bad": 0, "dropped": 0, "late_time": None, "messages": 0, "batch": -1}

    def show(batch, batch_id):
        """Runs on the driver for every micro-batch: print the windows it updated."""
        rows = sorted(batch.collect())
        for row in rows:
            seen["windows"][(row.start, row.end)] = row["count"]
        if rows:
            print(f"--- batch {batch_id}: windows updated")
            for row in rows:
                print(f"    {hms(row.start)}-{hms(row.end)}  {row['count']:4d} messages")
            print(end="", flush=True)

    producer = KafkaProducer(bootstrap_servers=KAFKA_SERVER) if args.demo_late else None
    logging.getLogger("kafka").setLevel(logging.ERROR)

    class WatermarkReport(StreamingQueryListener):
        """After every micro-batch: bad input, the watermark, and the rows dropped
        as too late. (Spark calls it for every query of this session.)"""

        def onQueryStarted(self, event):
            pass

        def onQueryProgress(self, event):
            p = event.progress
            seen["batch"] = p.batchId
            seen["messages"] += p.numInputRows
            if p.numInputRows == 0:
                return
            bad = p.observedMetrics.get("bad_input")
            if bad and bad["count"]:
                seen["bad"] += bad["count"]
                print(f"    skipped {bad['count']} bad message(s) (not JSON with a numeric "
                      f"\"time\") at topic/partition/offset {', '.join(bad['where'])}",
                      flush=True)
            dropped = sum(op.numRowsDroppedByWatermark for op in p.stateOperators)
            seen["dropped"] += dropped
            watermark = iso_ms(p.eventTime["watermark"]) if "watermark" in p.eventTime else 0
            shown = hms(watermark) if watermark else "none yet"
            print(f"    batch {p.batchId} ran with watermark {shown}", flush=True)
            if dropped:
                print(f"    batch {p.batchId} DROPPED {dropped} late rows: events older than the "
                      "watermark (one row per window an event falls in)", flush=True)
            if producer and seen["late_time"] is None and "max" in p.eventTime:
                send_late_event(iso_ms(p.eventTime["max"]) - HOUR_MS)

        def onQueryIdle(self, event):
            pass

        def onQueryTerminated(self, event):
            pass

    def send_late_event(late_ms):
        """--demo-late: one event an hour older than the newest event seen so far."""
        seen["late_time"] = late_ms
        message = {"time": late_ms, "msg": "Hello from an hour ago!"}
        producer.send(args.topic, json.dumps(message).encode("utf-8"))
        producer.flush()
        print(f"demo-late: sent an event with time {hms(late_ms)}, an hour older than the newest "
              "event: it is behind the watermark, so Spark will drop it", flush=True)

    spark.streams.addListener(WatermarkReport())
    query = counts.writeStream.outputMode("update").foreachBatch(show).start()
    print(f"Counting messages of topic {args.topic} per {args.window} s window every "
          f"{args.slide} s of event time, watermark {args.watermark} s "
          f"(from {args.starting_offsets}) ...", flush=True)
    run_query(query, seconds=args.seconds, batches=args.batches, max_rows=args.max_messages)
    if producer:
        producer.close()

    wait_for_listener(query, seen)
    windows = [[start, end, n] for (start, end), n in sorted(seen["windows"].items())]
    print("FINAL " + json.dumps({
        "windows": windows, "messages": seen["messages"], "dropped_late_rows": seen["dropped"],
        "bad_messages": seen["bad"], "late_event_time": seen["late_time"],
    }), flush=True)


if __name__ == "__main__":
    main()
