"""Plumbing shared by the course's Spark scripts, so that each script shows only
its streaming idea. Three things live here:

- spark_session(): a SparkSession that starts fast and prints little (no progress
  bar, WARN logs), with Spark's Kafka connector on the classpath;
- exit_unless_broker(): fail in seconds, with one line, when no broker answers
  (Spark's Kafka source would otherwise retry for ever);
- run_query() / run_dstream(): run a stream for a bounded time or number of
  batches, or until Ctrl-C, then stop it gracefully (no shutdown stack traces);
  ctrl_c_requests_stop() gives the same Ctrl-C handling to a loop of your own.

Environment: KAFKA_SERVER (default localhost:9092), SPARK_MASTER (default local[*]).
"""

import glob
import logging
import os
import signal
import sys
import threading
import time

KAFKA_SERVER = os.environ.get("KAFKA_SERVER", "localhost:9092")
SPARK_MASTER = os.environ.get("SPARK_MASTER", "local[*]")

_INFRA = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CONNECTOR_JARS = os.path.join(_INFRA, "local", "jars", "spark-kafka")


def exit_unless_broker(server=KAFKA_SERVER, timeout_s=5.0):
    """Exit with one line (and status 1) unless a Kafka broker answers on server."""
    from kafka import KafkaAdminClient

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        KafkaAdminClient(
            bootstrap_servers=server,
            bootstrap_timeout_ms=int(timeout_s * 1000),
            request_timeout_ms=int(timeout_s * 1000),
        ).close()
    except Exception:
        sys.exit(
            f"error: no Kafka broker answers on {server}. "
            "Start one: bash infra/kafka.sh start (or docker compose up -d kafka)"
        )


def spark_session(app_name, kafka=False, extra_conf=None):
    """A SparkSession for a course script. kafka=True adds the Kafka connector."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(SPARK_MASTER)
        .appName(app_name)
        # A live demo wants a clean console and a fast start.
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.ui.enabled", "false")
        .config(
            "spark.driver.extraJavaOptions",
            f"-Dlog4j2.configurationFile={os.path.join(_INFRA, 'spark-log4j2.properties')}",
        )
        # Small data on a laptop: 200 shuffle partitions (the default) would make
        # every micro-batch of an aggregation schedule 200 tiny tasks.
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.host", os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"))
        # A graceful DStream stop finishes the batches already queued; on a busy
        # laptop that queue can be long: give up waiting after 20 s.
        .config("spark.streaming.gracefulStopTimeout", "20s")
    )
    if kafka:
        # Spark's Kafka source is a separate Maven package with Spark's own version.
        # setup.sh resolved it once into infra/local/jars; anywhere else Spark
        # resolves it itself (a download on first use) through spark.jars.packages.
        jars = sorted(glob.glob(os.path.join(_CONNECTOR_JARS, "*.jar")))
        if jars:
            builder = builder.config("spark.jars", ",".join(jars))
        else:
            import pyspark

            package = f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}"
            builder = builder.config("spark.jars.packages", package)
    for key, value in (extra_conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def ctrl_c_requests_stop():
    """From now on, Ctrl-C asks for a graceful stop instead of raising KeyboardInterrupt.

    Returns a threading.Event that is set on Ctrl-C. Call it after Spark started: an
    exception raised in the middle of a call into the JVM breaks pyspark's connection
    to it (and prints a wall of errors), so the loops below only check the flag
    between calls. A second Ctrl-C forces the exit."""
    requested = threading.Event()
    first = []

    def on_ctrl_c(signum, frame):
        # One key press can arrive twice (say, sent to the process and to its group):
        # only a Ctrl-C at least a second after the first one forces the exit.
        if first and time.monotonic() - first[0] > 1.0:
            print("\nSecond Ctrl-C: exiting at once.", file=sys.stderr)
            os._exit(130)
        if not first:
            first.append(time.monotonic())
            requested.set()
            print("\nCtrl-C: stopping gracefully (Ctrl-C again to force) ...", file=sys.stderr)

    signal.signal(signal.SIGINT, on_ctrl_c)
    return requested


def run_query(query, seconds=None, batches=None, max_rows=None):
    """Run a started streaming query until `seconds` have passed, `batches`
    micro-batches with data have finished, or `max_rows` input rows were read
    (whichever comes first; all None: until Ctrl-C). Then stop it gracefully."""
    stop = ctrl_c_requests_stop()
    start = time.monotonic()
    while query.isActive and not stop.is_set():
        query.awaitTermination(0.2)
        progress = [p for p in query.recentProgress if p["numInputRows"] > 0]
        if seconds is not None and time.monotonic() - start >= seconds:
            break
        if batches is not None and len(progress) >= batches:
            break
        if max_rows is not None and sum(p["numInputRows"] for p in progress) >= max_rows:
            break
    if query.exception():  # the query failed: say why, in one block
        sys.exit(f"error: the streaming query failed: {query.exception().desc}")
    # Let the micro-batch under way finish first: stopping in the middle of one
    # cancels its Spark jobs, and a foreachBatch function would see them fail.
    deadline = time.monotonic() + 30
    while query.isActive and query.status["isTriggerActive"] and time.monotonic() < deadline:
        time.sleep(0.1)
    query.stop()


def wait_for_listener(query, seen, timeout_s=5.0):
    """Listeners run asynchronously: before the summary, give ours a moment to
    see the last micro-batch.
    `seen["batch"]` is the last batchId the listener handled."""
    last = query.lastProgress
    deadline = time.monotonic() + timeout_s
    while last and seen["batch"] < last["batchId"] and time.monotonic() < deadline:
        time.sleep(0.1)


def run_dstream(ssc, seconds=None, batches_done=None, batches=None, before_stop=None):
    """Run a started StreamingContext until `seconds` have passed or
    `batches_done()` reaches `batches` (all None: until Ctrl-C), then stop it
    gracefully: the batch under way finishes, nothing is cut in half.
    before_stop(), if given, runs just before the stop (e.g. a bridge's drain)."""
    stop = ctrl_c_requests_stop()
    start = time.monotonic()
    while not stop.is_set() and not ssc.awaitTerminationOrTimeout(0.2):
        if seconds is not None and time.monotonic() - start >= seconds:
            break
        if batches is not None and batches_done is not None and batches_done() >= batches:
            break
    if before_stop is not None:
        before_stop()
    ssc.stop(stopSparkContext=True, stopGraceFully=True)
