"""Trendy prices with Structured Streaming: keep a linear regression up to date
while the true weights drift.

Usage: bash day2/trendy_prices/run.sh structured [--topic TOPIC]
    [--starting-offsets earliest|latest] [--trigger S] [--max-per-batch N] [--step STEP]
    [--iterations N] [--output-topic TOPIC] [--plot PATH] [--json] [--seconds S]
    [--max-messages N] [--batches N]

Spark's Kafka source reads trendy-topic in micro-batches; foreachBatch hands each
micro-batch to a Python function on the driver, which

  1. learns from the batch's known rows: a few gradient-descent steps on the
     squared error, starting from the weights of the previous batch,
  2. then predicts the batch's unknown rows (whose labels it never sees).

The weights are the model's state and live in the driver between batches (Spark's
ML library has no streaming linear regression for DataFrames; this is what
pyspark.mllib's StreamingLinearRegressionWithSGD does per batch, see
dstream_regression.py). Because every batch moves the weights toward the newest
data, the model follows the drift; a model trained once does not.

Each batch prints the learned weights, the true weights and the prediction error;
at the end a PNG plot of true against learned weights over time (--plot).

Results flow back into Kafka: after each batch the function also publishes the
model's state, as JSON {"batch", "t", "learned", "true", "rmse", "frozen_rmse", ...},
to --output-topic (default: the topic's name without "-topic", plus "-model":
trendy-model), with a delivery report (`published to trendy-model/0/7`), flushed
before the batch ends. A bounded run ends with FINAL {"messages", "malformed",
"batches", "updates", "published", "mean_rmse", "mean_frozen_rmse", ...}. Start the
producer too: bash day2/trendy_prices/run.sh producer
"""

import argparse
import json
import os
import sys

import numpy as np
from drift_report import DriftReport
from kafka import KafkaProducer
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="trendy-topic", help="topic to read (trendy-topic)")
parser.add_argument("--starting-offsets", choices=["earliest", "latest"], default="latest",
                    help="where the query starts (default latest: only new messages)")
parser.add_argument("--trigger", type=float, default=5.0, help="seconds between micro-batches (5)")
parser.add_argument("--max-per-batch", type=int, help="at most N messages per micro-batch")
parser.add_argument("--step", type=float, default=2.0, help="gradient step size (2.0)")
parser.add_argument("--iterations", type=int, default=10, help="gradient steps per batch (10)")
parser.add_argument("--output-topic", help="where the model's state goes (default trendy-model)")
parser.add_argument("--plot", default=os.path.join(os.path.dirname(__file__), "output",
                                                   "structured_weights.png"),
                    help="where to write the PNG plot (output/structured_weights.png)")
parser.add_argument("--json", action="store_true", help="also print each batch as JSON")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()
args.output_topic = args.output_topic or args.topic.removesuffix("-topic") + "-model"

course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("trendy_prices_structured")
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
# The message format of producer.py. from_json is lenient (a missing field, or one of
# another type, becomes a null; NaN is a number): learn() checks each raw value first.
SCHEMA = ("t DOUBLE, true_weights ARRAY<DOUBLE>, "
          "rows ARRAY<STRUCT<known: BOOLEAN, x: ARRAY<DOUBLE>, label: DOUBLE>>")
messages = records.load().select("topic", "partition", "offset", "value",
                                 F.from_json(F.col("value").cast("string"), SCHEMA).alias("m"))

weights = np.zeros(5)  # the model: its state between micro-batches
report = DriftReport(json_lines=args.json)
malformed = 0
# Results flow back into Kafka: the model's state after each batch, for other services.
producer = KafkaProducer(bootstrap_servers=course.KAFKA_SERVER,
                         value_serializer=lambda value: json.dumps(value).encode("utf-8"))
published = {"delivered": 0, "failed": 0}


def delivered(metadata):  # the broker has the update: it has an address
    published["delivered"] += 1
    print(f"  published to {metadata.topic}/{metadata.partition}/{metadata.offset}", flush=True)


def failed(exc):
    published["failed"] += 1
    print(f"  publishing the model failed: {exc!r}", file=sys.stderr, flush=True)


def sgd(w, X, y):
    """Gradient descent on the mean squared error, like MLlib's: step / sqrt(i)."""
    for i in range(1, args.iterations + 1):
        w = w - args.step / np.sqrt(i) * X.T @ (X @ w - y) / len(y)
    return w


def learn(batch, batch_id):
    """Called on the driver for every micro-batch: learn, then predict."""
    global weights, malformed
    good = []
    # A micro-batch of trendy data is small: bring it to the driver.
    for msg in sorted(batch.collect(), key=lambda r: (r.partition, r.offset)):
        try:  # the format's definition: course README, "What counts as malformed"
            course.parse_value(msg.value, "trendy")
        except course.Malformed as why:
            malformed += 1
            course.skipped(msg.topic, msg.partition, msg.offset, why)
        else:
            good.append(msg.m)  # (t, true_weights, [(known, x, label), ...])
    known = [(x, label) for _, _, rows in good for is_known, x, label in rows if is_known]
    if known:  # 1. learn from this batch's labels
        weights = sgd(weights, np.array([x for x, _ in known]), np.array([y for _, y in known]))
    if good:  # 2. predict the rows without a label (the report scores the predictions)
        report.batch(good, weights, lambda X: X @ weights)
        # 3. publish the model's state: learned and true weights, both errors
        producer.send(args.output_topic, report.history[-1]).add_callback(delivered).add_errback(failed)
        producer.flush()  # the batch is done once its update is delivered


query = (
    messages.writeStream.foreachBatch(learn)
    .trigger(processingTime=f"{args.trigger} seconds")
    .start()
)
print(f"Learning from {args.topic!r}, a micro-batch every {args.trigger:g} s "
      f"(start the producer: bash day2/trendy_prices/run.sh producer)", flush=True)
run = course.stop_query_when_done(query, args)  # --seconds, --max-messages, --batches, Ctrl-C
query.awaitTermination()
run.malformed = malformed  # reported by learn(), which sees each message's address
producer.close()
report.finish(run, args.plot, published=published["delivered"])
spark.stop()
