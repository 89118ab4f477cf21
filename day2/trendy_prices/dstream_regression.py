"""Trendy prices with DStreams and MLlib, as in the original course:
pyspark.mllib's StreamingLinearRegressionWithSGD keeps a linear regression up to
date while the true weights drift.

Every batch interval (default 5 s) the DStream hands over the messages that
arrived. The model

  - trainOn: runs --iterations gradient-descent steps on the batch's known rows,
    starting from the weights it had after the previous batch,
  - then predicts the batch's unknown rows (whose labels it never sees),

so it keeps moving toward the newest data and follows the drift.

Python's DStream API has no Kafka connector any more (removed in Spark 3): a small
bridge (infra/python/kafka_socket_bridge.py) consumes trendy-topic and writes each
message as one line to a local socket, which socketTextStream reads. The bridge's
consumer group (--group) starts at the earliest message the first time and where
it stopped after that.

Each batch prints the learned weights, the true weights and the prediction error;
at the end a PNG plot of true against learned weights over time (--plot).

Usage:
    bash day2/trendy_prices/run.sh dstream [--seconds S] [--batches N]
        [--batch-seconds 5] [--step 1.0] [--iterations 50] [--topic trendy-topic]
        [--group trendy_prices_dstream] [--plot PATH] [--json]

Start the producer too: bash day2/trendy_prices/run.sh producer
Env KAFKA_SERVER (localhost:9092), SPARK_MASTER (local[*], at least 2 cores: the
socket receiver keeps one busy).
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
from drift_report import DriftReport
from pyspark import StorageLevel
from pyspark.mllib.linalg import Vectors
from pyspark.mllib.regression import LabeledPoint, StreamingLinearRegressionWithSGD
from pyspark.streaming import StreamingContext

from kafka_socket_bridge import KafkaSocketBridge
from spark_course import KAFKA_SERVER, exit_unless_broker, run_dstream, spark_session

HERE = os.path.dirname(os.path.abspath(__file__))
N_FEATURES = 5

parser = argparse.ArgumentParser(description="MLlib streaming regression on drifting data.")
parser.add_argument("--topic", default="trendy-topic", help="topic to read (trendy-topic)")
parser.add_argument("--group", default="trendy_prices_dstream", help="the bridge's consumer group")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--batches", type=int, help="stop after N batches with data")
parser.add_argument("--batch-seconds", type=float, default=5.0, help="batch interval (5)")
parser.add_argument("--step", type=float, default=1.0, help="SGD step size (1.0)")
parser.add_argument("--iterations", type=int, default=50, help="SGD iterations per batch (50)")
parser.add_argument("--plot", default=os.path.join(HERE, "output", "dstream_weights.png"),
                    help="where to write the PNG plot (output/dstream_weights.png)")
parser.add_argument("--json", action="store_true", help="also print each batch as JSON")
args = parser.parse_args()
# pyspark.mllib and DStreams are deprecated (still in Spark 4): say it once, in the README.
warnings.filterwarnings("ignore", category=FutureWarning)


def parse(line):
    """One message line -> its rows as ("row", known, x, label, true_weights, t)
    tuples, or [("bad", reason)]. Runs on the executors."""
    try:
        m = json.loads(line)
        w, t = [float(v) for v in m["true_weights"]], float(m["t"])
        rows = [(bool(r["known"]), [float(v) for v in r["x"]], r["label"]) for r in m["rows"]]
        if len(w) != N_FEATURES or any(len(x) != N_FEATURES for _, x, _ in rows):
            raise ValueError(f"expected {N_FEATURES} features")
        rows = [(k, x, float(label) if k else None) for k, x, label in rows]
    except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
        return [("bad", f"{type(exc).__name__}: {exc}"[:120])]
    return [("row", known, x, label, w, t) for known, x, label in rows]


exit_unless_broker()
spark = spark_session("trendy_prices_dstream")
ssc = StreamingContext(spark.sparkContext, args.batch_seconds)

bridge = KafkaSocketBridge(args.topic, server=KAFKA_SERVER, group_id=args.group)
bridge.start()
# One copy of each received block: a laptop has no second executor to replicate to.
lines = ssc.socketTextStream("127.0.0.1", bridge.port, StorageLevel.MEMORY_AND_DISK)
# The receiver cuts its input into a block every 200 ms, and each block becomes a
# partition, i.e. one task in every Spark job of the batch. A batch of trendy data
# is tiny: one partition is plenty and saves dozens of tasks per batch.
batches = lines.transform(lambda rdd: rdd.coalesce(1))
parsed = batches.flatMap(parse).cache()  # used by three outputs below: parse once
rows = parsed.filter(lambda r: r[0] == "row")

# Known rows train the model; unknown rows are predicted. Each unknown row travels
# with what we need to judge the prediction: its x, the true weights, the time.
known = rows.filter(lambda r: r[1]).map(lambda r: LabeledPoint(r[3], r[2]))
unknown = rows.filter(lambda r: not r[1]).map(
    lambda r: ((tuple(r[2]), tuple(r[4]), r[5]), Vectors.dense(r[2])))

# MLlib's defaults (stepSize 0.1, convergenceTol 0.001) stop early and lag behind
# the drift: the features are all positive, so plain gradient descent needs a
# bolder step (see README).
model = StreamingLinearRegressionWithSGD(
    stepSize=args.step, numIterations=args.iterations, convergenceTol=0.0)
model.setInitialWeights([0.0] * N_FEATURES)
model.trainOn(known)

report = DriftReport(json_lines=args.json)
last_t, last_w, counts = None, None, {"trained": 0, "bad_messages": 0, "warned_late": False}


def count_known_and_warn_bad(rdd):
    """One small collect per batch: the known rows (to count them) and the bad messages."""
    counts["trained"] = 0
    for item in rdd.collect():
        if item[0] == "bad":
            counts["bad_messages"] += 1
            print(f"warning: skipped a malformed message ({item[1]})", file=sys.stderr,
                  flush=True)
        else:
            counts["trained"] += 1


def warn_if_behind(batch_time):
    """A DStream must process a batch faster than the batch interval, or batches
    queue up and the results come ever later."""
    late = time.time() - batch_time.timestamp()
    warming_up = report.batches < 2  # the first batches also wait for Spark to warm up
    if late > 3 * args.batch_seconds and not warming_up and not counts["warned_late"]:
        counts["warned_late"] = True
        print(f"warning: falling behind: this batch started {late:.0f} s late. Batches take "
              f"longer than --batch-seconds {args.batch_seconds:g}; raise it or lower "
              f"--iterations", file=sys.stderr, flush=True)


def predict_and_report(batch_time, rdd):
    """On the driver, after trainOn updated the model with this batch."""
    global last_t, last_w
    warn_if_behind(batch_time)
    # What model.predictOnValues(unknown) does, but here, when the batch runs:
    # predictOnValues binds the weights when a batch is *scheduled*, so on a busy
    # laptop, where batches queue up, it would predict with weights several
    # batches old.
    current = model.latestModel()
    pairs = rdd.mapValues(lambda features: current.predict(features)).collect()
    if not pairs and not counts["trained"]:
        return  # an empty batch
    for (_, w, t), _ in pairs:
        if last_t is None or t >= last_t:
            last_t, last_w = t, w
    if last_w is None:
        return  # only known rows so far: nothing to compare with yet
    X = np.array([x for (x, _, _), _ in pairs]).reshape(-1, N_FEATURES)
    truth = [float(np.dot(w, x)) for (x, w, _), _ in pairs]
    learned = current.weights.toArray()
    report.batch(last_t, learned, last_w, X, truth, [p for _, p in pairs], counts["trained"])


# Output operations run in the order they were declared, batch after batch:
# trainOn's update first (above), then these two.
parsed.filter(lambda r: r[0] == "bad" or r[1]).foreachRDD(count_known_and_warn_bad)
unknown.foreachRDD(predict_and_report)

bridge.count_received(ssc)  # so that the stop below loses no line the bridge wrote
ssc.start()
print(f"learning from {args.topic} on {KAFKA_SERVER} via the bridge, a batch every "
      f"{args.batch_seconds} s (start the producer: bash day2/trendy_prices/run.sh producer)",
      flush=True)
run_dstream(ssc, seconds=args.seconds, batches_done=lambda: report.batches, batches=args.batches,
            before_stop=lambda: bridge.drain(timeout_s=2 * args.batch_seconds + 10))
bridge.stop()
report.finish(args.plot, {"bad_messages": counts["bad_messages"], "forwarded": bridge.forwarded})
