"""Spark's class-data archive: every Spark exercise's JVM starts sooner with it.

    .venv/bin/python infra/python/spark_archive.py      (bash setup.sh runs it once)

Most of a Spark exercise's start-up is its JVM loading, verifying and linking some
20,000 classes of Spark's jars. Java's application class-data sharing (CDS) keeps
them, ready to map into memory, in an archive file: this script runs a small Spark
job once with -XX:ArchiveClassesAtExit (the job touches what the exercises use:
a SparkSession and its web UI, a streaming aggregation with its state store and
checkpoint, a foreachBatch in Python, a stateful function in pandas (Arrow), the
state data source, a Spark ML pipeline saved and loaded, a step of MLlib's streaming
k-means, a DStream, and, when a broker answers, Spark's Kafka sink and source), and
course.py passes -XX:SharedArchiveFile to every later driver JVM
(spark.driver.defaultJavaOptions).
The archive (about 240 MB, in infra/local/spark-cds/, ignored by git) belongs to one
Java build and one set of Spark jars: course.py uses it only when the stamp next to
it names the Java and the pyspark of this run, so a new Java or a new Spark simply
starts without it until setup.sh makes a new one. Measured by tests/benchmark.py;
README.md ("How fast a Spark exercise starts") quotes the figures.
"""

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

_LOCAL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "local")
ARCHIVE = os.path.join(_LOCAL, "spark-cds", "spark.jsa")
STAMP = ARCHIVE + ".stamp"
LOG = os.path.join(os.path.dirname(ARCHIVE), "make.log")  # what a failed training job printed


def _fingerprint():
    """The Java build that spark-submit will start (JAVA_HOME's, else the java on PATH)
    and the Spark jars it will load, in a few cheap lines (no process started)."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None
    java = os.path.realpath(java)
    spark = importlib.util.find_spec("pyspark")
    if spark is None or not spark.submodule_search_locations:
        return None
    jars = sorted(os.listdir(os.path.join(spark.submodule_search_locations[0], "jars")))
    job = hashlib.sha256(TRAINING_JOB.encode()).hexdigest()[:16]  # a new job: a new archive
    return "\n".join([f"java {java} {os.stat(java).st_mtime_ns} {os.stat(java).st_size}",
                      f"pyspark {importlib.metadata.version('pyspark')}", f"training job {job}", *jars])


# The stamp's last line when the training job also ran Spark's Kafka source and sink
# (it needs a broker: setup.sh starts one first); without it a later setup.sh remakes the
# archive once a broker answers.
WITH_KAFKA = "with Spark's Kafka classes"


def _stamp():
    try:
        with open(STAMP) as stamp:
            return stamp.read()
    except OSError:
        return None


def archive_for_this_java():
    """The archive's path if setup.sh made it for this Java and this Spark, else None."""
    made_for = _stamp()
    if made_for is None or not os.path.exists(ARCHIVE):
        return None
    return ARCHIVE if made_for.removesuffix("\n" + WITH_KAFKA) == _fingerprint() else None


# The job whose classes go into the archive: it runs in a JVM of its own, started by
# course.py with -XX:ArchiveClassesAtExit, which writes the archive when the JVM exits.
TRAINING_JOB = r'''
import os, sys, tempfile
import course
from pyspark.sql import SparkSession, functions as F
from pyspark.streaming import StreamingContext

os.environ["PYSPARK_SUBMIT_ARGS"] = course._spark_submit_args(dump_archive=sys.argv[1])
spark = (SparkSession.builder.appName("spark_archive").config("spark.jars", course.KAFKA_CONNECTOR_JARS)
         .config("spark.ui.port", 0).getOrCreate())  # the UI too, on a free port
checkpoint = tempfile.mkdtemp()
rows = spark.readStream.format("rate").option("rowsPerSecond", 50).load()
counts = (rows.withWatermark("timestamp", "5 seconds")
          .groupBy(F.window("timestamp", "2 seconds"), (F.col("value") % 3).alias("key")).count())
seen = []
query = (counts.writeStream.outputMode("update").option("checkpointLocation", checkpoint)
         .foreachBatch(lambda batch, batch_id: seen.append(batch.collect())).start())
while len(seen) < 3 and query.exception() is None:
    query.awaitTermination(1)
query.stop()
spark.read.format("statestore").load(checkpoint).count()
# A stateful function in pandas (Arrow, the pandas worker), as stateful_wordcount's
import pandas as pd
from pyspark.sql.streaming.state import GroupStateTimeout
def running_total(key, batches, state):
    total = (state.get[0] if state.exists else 0) + sum(len(b) for b in batches)
    state.update((total,))
    yield pd.DataFrame({"key": [key[0]], "total": [total]})


seen = []
query = (rows.select((F.col("value") % 3).alias("key")).groupBy("key")
         .applyInPandasWithState(running_total, "key LONG, total LONG", "total LONG", "update",
                                 GroupStateTimeout.NoTimeout)
         .writeStream.outputMode("update").option("checkpointLocation", os.path.join(checkpoint, "p"))
         .foreachBatch(lambda batch, batch_id: seen.append(batch.collect())).start())
while len(seen) < 2 and query.exception() is None:
    query.awaitTermination(1)
query.stop()
# A Spark ML pipeline saved and loaded (Parquet, JSON metadata), as twitter_cluster's model
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import KMeans
from pyspark.ml.feature import HashingTF, NGram, Normalizer, RegexTokenizer
texts = spark.createDataFrame([(f"text number {i}",) for i in range(20)], "text STRING")
pipeline = Pipeline(stages=[RegexTokenizer(inputCol="text", outputCol="c", pattern=""),
                            NGram(n=2, inputCol="c", outputCol="b"),
                            HashingTF(inputCol="b", outputCol="h", numFeatures=64),
                            Normalizer(inputCol="h", outputCol="features"),
                            KMeans(k=2, seed=1, maxIter=2)])
pipeline.fit(texts).write().overwrite().save(os.path.join(checkpoint, "model"))
PipelineModel.load(os.path.join(checkpoint, "model")).transform(texts).select(F.lower("text")).collect()
sc = spark.sparkContext
# One step of MLlib's streaming k-means (its linear algebra), as twitter_cluster's
from pyspark.mllib.clustering import StreamingKMeans
from pyspark.mllib.linalg import Vectors
kmeans = StreamingKMeans(k=2, timeUnit="batches").setRandomCenters(8, 0.0, 1).latestModel()
kmeans.update(sc.parallelize([Vectors.dense([float(i)] * 8) for i in range(10)], 1), 1.0, "batches")
# Spark's Kafka sink and source, when a broker answers (setup.sh starts one first)
if course._broker_answers():
    from kafka import KafkaAdminClient
    topic = f"spark-archive-{os.getpid()}"
    kafka = {"kafka.bootstrap.servers": course.KAFKA_SERVER}
    spark.createDataFrame([("a b",)], "value STRING").write.format("kafka").options(
        topic=topic, **kafka).save()
    query = (spark.readStream.format("kafka").options(subscribe=topic, startingOffsets="earliest",
                                                      **kafka).load()
             .select(F.explode(F.split(F.col("value").cast("string"), " ")).alias("word"))
             .groupBy("word").count().writeStream.outputMode("complete")
             .foreachBatch(lambda batch, batch_id: batch.collect())
             .trigger(availableNow=True).start())
    query.awaitTermination()
    KafkaAdminClient(bootstrap_servers=course.KAFKA_SERVER).delete_topics([topic])
    print("KAFKA CLASSES")
ssc = StreamingContext(sc, 0.5)
def collect(rdd):
    rdd.collect()  # an output operation returns nothing


ssc.queueStream([sc.parallelize(range(10), 1)]).map(lambda x: (x % 2, 1)).reduceByKey(
    lambda a, b: a + b).foreachRDD(collect)
ssc.start()
ssc.awaitTerminationOrTimeout(2)
ssc.stop(stopSparkContext=True, stopGraceFully=False)
'''


def make():
    """Run the training job with -XX:ArchiveClassesAtExit; write the stamp after."""
    fingerprint = _fingerprint()
    if fingerprint is None:
        sys.exit("error: no Java or no pyspark found. Fix: bash setup.sh")
    from course import _broker_answers

    if archive_for_this_java() and (_stamp().endswith(WITH_KAFKA) or not _broker_answers()):
        print("up to date")
        return
    os.makedirs(os.path.dirname(ARCHIVE), exist_ok=True)
    for stale in (ARCHIVE, STAMP, LOG):
        if os.path.exists(stale):
            os.remove(stale)
    dump = ARCHIVE + ".new"
    with tempfile.TemporaryDirectory() as cwd:  # Spark's scratch files stay out of the repository
        job = subprocess.run([sys.executable, "-c", TRAINING_JOB, dump], cwd=cwd, text=True,
                             env={**os.environ, "PYSPARK_SUBMIT_ARGS": ""},
                             capture_output=True, timeout=600)
    if job.returncode != 0 or not os.path.exists(dump):
        with open(LOG, "w") as out:
            out.write(job.stdout + job.stderr)
        # Not an error for setup.sh: the exercises run without the archive, only slower to start.
        print(f"warning: could not make Spark's class-data archive; the exercises start without "
              f"it, a few seconds slower (what the job printed: {os.path.relpath(LOG)}). "
              "Fix: bash setup.sh again; if it fails again, report that file")
        return
    os.replace(dump, ARCHIVE)
    with open(STAMP, "w") as stamp:
        stamp.write(fingerprint + ("\n" + WITH_KAFKA if "KAFKA CLASSES" in job.stdout else ""))
    print(f"made {os.path.relpath(ARCHIVE)} ({os.path.getsize(ARCHIVE) // 2**20} MB)")


if __name__ == "__main__":
    make()
