"""Running word count over lines from Kafka with Structured Streaming and keyed state.

The Structured Streaming form of the Shakespeare example: the lines come from a
Kafka topic (hamlet_producer.py writes the soliloquy there, one line per message),
each line is split into words, and applyInPandasWithState keeps a running total per
word in Spark's state store. Every micro-batch prints the totals that changed. (The
same running count could be written as groupBy("word").count(); the stateful
operator shows what such an aggregation does underneath, and is what you use when
the state is more than a count.)

Usage:
    python wordcount_structured.py [--topic hamlet] [--starting-offsets earliest|latest]
                                   [--max-per-batch N] [--max-messages N] [--seconds S]
                                   [--batches N]

Messages are UTF-8 JSON with the line in "msg" (the simple_producer format); a
message that is not JSON or has no "msg" is reported with topic/partition/offset,
counted and skipped. At the end it prints one machine-readable line:
    FINAL {"totals": {"to": 15, ...}, "messages": 33, "bad_messages": 0}

Environment: KAFKA_SERVER (default localhost:9092), SPARK_MASTER (default local[*]).
"""

import argparse
import json

import pandas as pd
from pyspark.sql.functions import (
    col,
    collect_list,
    concat_ws,
    count,
    explode,
    from_json,
    lower,
    regexp_replace,
    split,
    when,
)
from pyspark.sql.streaming import StreamingQueryListener
from pyspark.sql.streaming.state import GroupStateTimeout

from spark_course import KAFKA_SERVER, exit_unless_broker, run_query, spark_session, wait_for_listener


def running_count(key, batches, state):
    """The stateful function: Spark calls it once per word and micro-batch with
    that word's new rows (as pandas DataFrames) and its state, a GroupState that
    holds the total so far between batches (in Spark's state store, saved in the
    query's checkpoint)."""
    (word,) = key
    new = sum(len(batch) for batch in batches)
    total = (state.get[0] if state.exists else 0) + new
    state.update((total,))
    yield pd.DataFrame({"word": [word], "total": [total]})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", default="hamlet", help="topic to read (default hamlet)")
    parser.add_argument("--starting-offsets", choices=["earliest", "latest"], default="earliest",
                        help="read the topic from its beginning (default) or only new lines")
    parser.add_argument("--max-per-batch", type=int,
                        help="at most N messages per micro-batch (maxOffsetsPerTrigger)")
    parser.add_argument("--max-messages", type=int, help="stop after N messages")
    parser.add_argument("--seconds", type=float, help="stop after S seconds")
    parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
    args = parser.parse_args()

    exit_unless_broker()
    spark = spark_session("StatefulWordCountStructured", kafka=True)

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
    # Bad input (not JSON, or no "msg") is counted, not fatal: observe() computes
    # these metrics over every micro-batch, and Spark hands them to BadInputReport.
    bad = col("m.msg").isNull()
    messages = messages.observe(
        "bad_input",
        count(when(bad, 1)).alias("count"),
        collect_list(when(bad, concat_ws("/", "topic", "partition", "offset"))).alias("where"),
    )

    # The word rule (the same as wordcount_dstream.py): lower case; a word is a run
    # of letters and apostrophes, without apostrophes at its ends.
    words = (
        messages.where(col("m.msg").isNotNull())
        .select(explode(split(lower(col("m.msg")), "[^a-z']+")).alias("word"))
        .select(regexp_replace("word", "^'+|'+$", "").alias("word"))
        .where(col("word") != "")
    )

    # The stateful step: group the stream by word, keep a running total per word.
    totals = words.groupBy("word").applyInPandasWithState(
        running_count,
        outputStructType="word STRING, total LONG",
        stateStructType="total LONG",
        outputMode="update",  # each batch emits only the words whose total changed
        timeoutConf=GroupStateTimeout.NoTimeout,  # a word's state never expires
    )

    seen = {"totals": {}, "bad": 0, "messages": 0, "batch": -1}

    def show(batch, batch_id):
        """Runs on the driver for every micro-batch: print the changed totals."""
        changed = {row.word: row.total for row in batch.collect()}
        if not changed:
            return
        seen["totals"].update(changed)
        top = sorted(changed.items(), key=lambda kv: (-kv[1], kv[0]))
        print(f"--- batch {batch_id}: {len(changed)} totals changed, "
              f"{len(seen['totals'])} words so far")
        print("    " + ", ".join(f"{w}={c}" for w, c in top[:12])
              + (" ..." if len(top) > 12 else ""), flush=True)

    class BadInputReport(StreamingQueryListener):
        """Spark calls onQueryProgress after every micro-batch, with its metrics."""

        def onQueryStarted(self, event):
            pass

        def onQueryProgress(self, event):
            seen["batch"] = event.progress.batchId
            seen["messages"] += event.progress.numInputRows
            bad = event.progress.observedMetrics.get("bad_input")
            if bad and bad["count"]:
                seen["bad"] += bad["count"]
                print(f"skipped {bad['count']} bad message(s) (not JSON with a \"msg\") at "
                      f"topic/partition/offset {', '.join(bad['where'])}", flush=True)

        def onQueryIdle(self, event):
            pass

        def onQueryTerminated(self, event):
            pass

    spark.streams.addListener(BadInputReport())
    query = totals.writeStream.outputMode("update").foreachBatch(show).start()
    print(f"Counting words of topic {args.topic} on {KAFKA_SERVER} "
          f"(from {args.starting_offsets}) ...", flush=True)
    run_query(query, seconds=args.seconds, batches=args.batches, max_rows=args.max_messages)

    wait_for_listener(query, seen)
    final = dict(sorted(seen["totals"].items(), key=lambda kv: (-kv[1], kv[0])))
    summary = {"totals": final, "messages": seen["messages"], "bad_messages": seen["bad"]}
    print("FINAL " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
