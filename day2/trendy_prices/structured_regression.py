"""Trendy prices with Structured Streaming: keep a linear regression up to date
while the true weights drift.

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

Usage:
    bash day2/trendy_prices/run.sh structured [--seconds S] [--batches N]
        [--trigger 5] [--step 1.0] [--iterations 50] [--from-beginning]
        [--topic trendy-topic] [--plot PATH] [--json]

Start the producer too: bash day2/trendy_prices/run.sh producer
Env KAFKA_SERVER (localhost:9092), SPARK_MASTER (local[*]).
"""

import argparse
import os
import sys

import numpy as np
from drift_report import DriftReport
from pyspark.sql.functions import col, from_json

from spark_course import KAFKA_SERVER, exit_unless_broker, run_query, spark_session

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser(description="Structured Streaming regression on drifting data.")
parser.add_argument("--topic", default="trendy-topic", help="topic to read (trendy-topic)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--batches", type=int, help="stop after N micro-batches with data")
parser.add_argument("--trigger", type=float, default=5.0, help="seconds per micro-batch (5)")
parser.add_argument("--step", type=float, default=1.0, help="gradient step size (1.0)")
parser.add_argument("--iterations", type=int, default=50, help="gradient steps per batch (50)")
parser.add_argument("--from-beginning", action="store_true",
                    help="read the topic from its first message (default: only new ones)")
parser.add_argument("--plot", default=os.path.join(HERE, "output", "structured_weights.png"),
                    help="where to write the PNG plot (output/structured_weights.png)")
parser.add_argument("--json", action="store_true", help="also print each batch as JSON")
args = parser.parse_args()

# The message format of producer.py; from_json gives null where the JSON is broken.
SCHEMA = ("t DOUBLE, true_weights ARRAY<DOUBLE>, "
          "rows ARRAY<STRUCT<x: ARRAY<DOUBLE>, known: BOOLEAN, label: DOUBLE>>")
N_FEATURES = 5

exit_unless_broker()
spark = spark_session("trendy_prices_structured", kafka=True)

messages = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", KAFKA_SERVER)
    .option("subscribe", args.topic)
    .option("startingOffsets", "earliest" if args.from_beginning else "latest")
    .load()
    .select("topic", "partition", "offset",
            from_json(col("value").cast("string"), SCHEMA).alias("m"))
)

weights = np.zeros(N_FEATURES)  # the model: its state between micro-batches
report = DriftReport(json_lines=args.json)
bad_messages = 0


def well_formed(m):
    """A parsed message has the fields and shapes producer.py sends."""
    return (
        m is not None and m.t is not None and m.true_weights is not None and m.rows
        and len(m.true_weights) == N_FEATURES
        and all(r is not None and r.x is not None and len(r.x) == N_FEATURES
                and r.known is not None and (r.label is not None or not r.known)
                and None not in r.x for r in m.rows)
    )


def sgd(w, X, y):
    """Gradient descent on the mean squared error, like MLlib's: step / sqrt(i)."""
    for i in range(1, args.iterations + 1):
        gradient = X.T @ (X @ w - y) / len(y)
        w = w - args.step / np.sqrt(i) * gradient
    return w


def learn(batch, batch_id):
    """Called on the driver for every micro-batch: learn, then predict."""
    global weights, bad_messages
    X_known, y_known, X_unknown, truth, t, true = [], [], [], [], None, None
    # A micro-batch of trendy data is small: bring it to the driver.
    for msg in sorted(batch.collect(), key=lambda m: (m.partition, m.offset)):
        if not well_formed(msg.m):
            bad_messages += 1
            print(f"warning: skipped a malformed message at {msg.topic} partition "
                  f"{msg.partition} offset {msg.offset}", file=sys.stderr, flush=True)
            continue
        w_true = np.array(msg.m.true_weights)
        for row in msg.m.rows:
            if row.known:
                X_known.append(row.x)
                y_known.append(row.label)
            else:
                X_unknown.append(row.x)
                truth.append(float(w_true @ np.array(row.x)))
        if t is None or msg.m.t >= t:
            t, true = msg.m.t, w_true
    if t is None:
        return  # nothing usable in this batch
    if y_known:  # 1. learn from this batch's labels
        weights = sgd(weights, np.array(X_known), np.array(y_known))
    X_unknown = np.array(X_unknown).reshape(-1, N_FEATURES)
    predictions = X_unknown @ weights  # 2. predict the rows without a label
    report.batch(t, weights, true, X_unknown, truth, predictions, len(y_known))


query = (
    messages.writeStream.foreachBatch(learn)
    .trigger(processingTime=f"{args.trigger} seconds")
    .start()
)
print(f"learning from {args.topic} on {KAFKA_SERVER}, a micro-batch every {args.trigger} s "
      f"(start the producer: bash day2/trendy_prices/run.sh producer)", flush=True)
run_query(query, seconds=args.seconds, batches=args.batches)
report.finish(args.plot, {"bad_messages": bad_messages})
spark.stop()
