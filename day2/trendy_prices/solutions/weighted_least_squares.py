"""Solution: exponentially weighted least squares, side by side with the SGD model.

Usage: bash day2/trendy_prices/run.sh solutions/weighted_least_squares.py [--forget F]
    [the options of structured_regression.py]

The change (README exercise 2): instead of a few gradient steps per batch, the
exact least-squares fit of the rows seen so far, where a row k batches old
weighs forget**k. The state is two small sums, updated each batch:

    A = forget * A + X'X      b = forget * b + X'y      w = solve(A, b)

--forget 0 fits each batch alone (exact, but a batch has few rows: noisy); --forget 1
fits everything since the start (it never forgets, so it lags more and more behind
the drift); in between, old rows fade. The SGD model of structured_regression.py
runs alongside on the same batches: each batch prints its error too, and FINAL adds
"mean_sgd_rmse" next to "mean_rmse" (the weighted least squares model's).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from drift_report import DriftReport  # noqa: E402 (in the exercise's folder)
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

import course  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="trendy-topic", help="topic to read (trendy-topic)")
parser.add_argument("--starting-offsets", choices=["earliest", "latest"], default="latest",
                    help="where the query starts (default latest: only new messages)")
parser.add_argument("--trigger", type=float, default=5.0, help="seconds between micro-batches (5)")
parser.add_argument("--max-per-batch", type=int, help="at most N messages per micro-batch")
parser.add_argument("--forget", type=float, default=0.3,
                    help="weight of the previous batches' rows, 0..1 (0.3)")
parser.add_argument("--step", type=float, default=2.0, help="gradient step size (2.0)")
parser.add_argument("--iterations", type=int, default=10, help="gradient steps per batch (10)")
parser.add_argument("--plot", default=os.path.join(os.path.dirname(__file__), "..", "output",
                                                   "weighted_least_squares.png"),
                    help="where to write the PNG plot (output/weighted_least_squares.png)")
parser.add_argument("--json", action="store_true", help="also print each batch as JSON")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
args = parser.parse_args()

course.check_broker()  # Spark's Kafka source would wait for a broker for ever, silently
spark = (
    SparkSession.builder.appName("weighted_least_squares")
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

weights = np.zeros(5)  # the SGD model, for comparison
A, b = np.zeros((5, 5)), np.zeros(5)  # the weighted least squares model's state
sgd_errors = []
report = DriftReport(json_lines=args.json)
malformed = 0


def sgd(w, X, y):
    """Gradient descent on the mean squared error, like MLlib's: step / sqrt(i)."""
    for i in range(1, args.iterations + 1):
        w = w - args.step / np.sqrt(i) * X.T @ (X @ w - y) / len(y)
    return w


def learn(batch, batch_id):
    """Called on the driver for every micro-batch: learn, then predict."""
    global weights, malformed, A, b
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
    if known:  # 1. learn from this batch's labels: both models
        X, y = np.array([x for x, _ in known]), np.array([y for _, y in known])
        weights = sgd(weights, X, y)
        A, b = args.forget * A + X.T @ X, args.forget * b + X.T @ y
    if good:  # 2. predict the rows without a label
        ls_weights = np.linalg.lstsq(A, b, rcond=None)[0]
        report.batch(good, ls_weights, lambda X: X @ ls_weights)
        unknown = [(x, np.dot(w, x)) for _, w, rows in good for is_known, x, _ in rows if not is_known]
        if unknown:
            X = np.array([x for x, _ in unknown])
            sgd_errors.append(float(np.sqrt(np.mean((X @ weights - [y for _, y in unknown]) ** 2))))
            print(f"  SGD model, for comparison: prediction error (RMSE) {sgd_errors[-1]:.4f}")


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
after_warmup = sgd_errors[report.warmup:]
report.finish(run, args.plot, mean_sgd_rmse=float(np.mean(after_warmup)) if after_warmup else None)
spark.stop()
