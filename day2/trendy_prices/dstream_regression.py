"""Trendy prices with DStreams and MLlib, as in the original course:
pyspark.mllib's StreamingLinearRegressionWithSGD keeps a linear regression up to
date while the true weights drift.

Usage: bash day2/trendy_prices/run.sh dstream [--topic TOPIC]
    [--group GROUP] [--batch-seconds S] [--step STEP] [--iterations N]
    [--plot PATH] [--json] [--seconds S] [--max-messages N] [--batches N]

Every batch interval (--batch-seconds) the DStream hands over the messages that
arrived. The model

  - trainOn: runs --iterations gradient-descent steps on the batch's known rows,
    starting from the weights it had after the previous batch,
  - then predicts the batch's unknown rows (whose labels it never sees),

so it keeps moving toward the newest data and follows the drift.

Python's DStream API has no Kafka connector any more (removed in Spark 3): a small
bridge (infra/python/kafka_socket_bridge.py) consumes trendy-topic and writes each
message as one line "topic/partition/offset<TAB>value" to a local socket, which
socketTextStream reads. The bridge's consumer group (--group) starts at the
earliest message the first time and where it stopped after that.

A DStream job must keep up: each batch must be processed within the batch
interval, or batches queue up and the results come ever later. MLlib runs one
Spark job per gradient step (--iterations, plus a few to start), so the script
keeps the rest to one job per batch (one partition, one collect).

Each batch prints the learned weights, the true weights and the prediction error;
at the end a PNG plot (--plot) and FINAL {"messages", "malformed", "batches",
"updates", "mean_rmse", "mean_frozen_rmse", ...}. Start the producer too:
bash day2/trendy_prices/run.sh producer
"""

import argparse
import os
import warnings

from drift_report import DriftReport
from pyspark import SparkConf, SparkContext, StorageLevel
from pyspark.mllib.regression import LabeledPoint, StreamingLinearRegressionWithSGD
from pyspark.streaming import StreamingContext

import course
from kafka_socket_bridge import KafkaSocketBridge

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="trendy-topic", help="topic to read (trendy-topic)")
parser.add_argument("--group", default="trendy_prices_dstream", help="the bridge's consumer group")
parser.add_argument("--batch-seconds", type=float, default=5.0, help="batch interval (5)")
parser.add_argument("--step", type=float, default=2.0, help="SGD step size (2.0)")
parser.add_argument("--iterations", type=int, default=10, help="SGD iterations per batch (10)")
parser.add_argument("--plot", default=os.path.join(os.path.dirname(__file__), "output",
                                                   "dstream_weights.png"),
                    help="where to write the PNG plot (output/dstream_weights.png)")
parser.add_argument("--json", action="store_true", help="also print each batch as JSON")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--batches", type=int, help="stop after N batches with data")
args = parser.parse_args()
# DStreams and pyspark.mllib are deprecated (still in Spark 4): the README says so once.
warnings.filterwarnings("ignore", category=FutureWarning)

course.check_broker()
conf = SparkConf().setAppName("trendy_prices_dstream")
# MLlib's trainOn runs take() jobs each batch, and a Python worker that take() stops
# early is not reused: the next one is forked from Spark's worker daemon. This daemon
# (infra/python/mllib_daemon.py) imports pyspark.mllib once, so they need not.
conf.set("spark.python.daemon.module", "mllib_daemon")
sc = SparkContext(conf=conf)
ssc = StreamingContext(sc, args.batch_seconds)
print(f"Spark UI: {sc.uiWebUrl}")

bridge = KafkaSocketBridge(args.topic, group_id=args.group).start()
# One copy of each block: a laptop has no second executor to replicate it to.
lines = ssc.socketTextStream(bridge.host, bridge.port, StorageLevel.MEMORY_AND_DISK)


def parse(line):
    """A bridge line -> (address, (t, true_weights, [(known, x, label), ...])), or
    (address, why) for a malformed message (course README, "What counts as malformed").
    Runs on the executors."""
    address, m, why = course.parse_line(line, "trendy")
    if why:
        return address, why
    rows = [(r["known"], [float(v) for v in r["x"]], float(r["label"]) if r["known"] else None)
            for r in m["rows"]]
    return address, (float(m["t"]), [float(w) for w in m["true_weights"]], rows)


# The receiver cuts a block every 200 ms, and each block is a partition: coalesce(1)
# makes a batch one partition (no shuffle), so each of its Spark jobs is one task.
batch_lines = lines.transform(lambda rdd: rdd.coalesce(1))
messages = batch_lines.map(parse).cache()  # used by both outputs below: parse once
known = messages.flatMap(
    lambda am: [] if isinstance(am[1], str) else
    [LabeledPoint(label, x) for is_known, x, label in am[1][2] if is_known]).cache()

# MLlib's defaults (stepSize 0.1, convergenceTol 0.001) stop early and lag behind
# the drift: the features are all positive, so plain gradient descent needs a
# bolder step (see README).
model = StreamingLinearRegressionWithSGD(
    stepSize=args.step, numIterations=args.iterations, convergenceTol=0.0)
model.setInitialWeights([0.0] * 5)
model.trainOn(known)  # an output operation: each batch, --iterations Spark jobs

report = DriftReport(json_lines=args.json)
malformed = 0


def predict_and_report(rdd):
    """On the driver, after trainOn updated the model with this batch (output
    operations run in the order they were declared). One job: collect the batch."""
    global malformed
    good = []
    for address, m in rdd.collect():
        if isinstance(m, str):
            malformed += 1
            course.skipped(*address, m)
        else:
            good.append(m)
    if good:
        # latestModel(), not predictOnValues(): that one binds the weights when a
        # batch is scheduled, which is several batches early when they queue up.
        current = model.latestModel()
        report.batch(good, current.weights.toArray(), lambda X: [current.predict(x) for x in X])


messages.foreachRDD(predict_and_report)

run = course.stop_stream_when_done(ssc, args, bridge)  # stops the bridge, then Spark
ssc.start()
course.start_python_workers(sc)  # start-up: now, not in the first batch
print(f"Learning from {args.topic!r} via the bridge, a batch every {args.batch_seconds:g} s "
      f"(start the producer: bash day2/trendy_prices/run.sh producer)", flush=True)
ssc.awaitTermination()
run.malformed = malformed
report.finish(run, args.plot)
