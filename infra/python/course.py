"""What the course's scripts share that is NOT their lesson. You can skip this file:
each exercise script shows its Kafka and Spark calls itself.

- KAFKA_SERVER                 the broker (env KAFKA_SERVER, default localhost:9092)
- check_broker(), exit_no_broker()
                               the one "no broker" message: one line, exit 1
- skipped(topic, partition, offset, why)
                               the one format for a malformed message that is skipped
- final(stats, **results)      the FINAL {json} line that ends every bounded run
- stop_query_when_done(query, args, on_progress), stop_stream_when_done(ssc, args, bridge, queued)
                               --seconds / --max-messages / --batches and Ctrl-C stop
                               the stream between two (micro-)batches: the one under
                               way finishes, the next one never starts, and every line
                               received is processed (a DStream loses no line the
                               bridge wrote), so that a script can simply call
                               awaitTermination(); they count messages, malformed
                               ones and batches for the FINAL line, and print one
                               line on how long the (micro-)batches took
- KAFKA_CONNECTOR_JARS         Spark's Kafka connector, as setup.sh resolved it

Importing it also points Spark at the course's settings, infra/spark-conf/
(spark-defaults.conf: no progress bar, few shuffle partitions; log4j2.properties:
warnings only), exactly as `spark-submit` reads SPARK_CONF_DIR; honours
SPARK_MASTER (default local[*]) and SPARK_UI=off (the tests' setting: no web UI);
makes Spark's Python workers run this same Python; and passes on what Spark's JVM
prints, except two lines it prints at every start that say nothing to a student
(see _HARMLESS_JVM_LINES).
"""

import atexit
import glob
import json
import logging
import os
import re
import signal
import statistics
import sys
import threading
import time

KAFKA_SERVER = os.environ.get("KAFKA_SERVER", "localhost:9092")
SPARK_MASTER = os.environ.get("SPARK_MASTER", "local[*]")

_INFRA = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KAFKA_CONNECTOR_JARS = ",".join(sorted(glob.glob(os.path.join(_INFRA, "local/jars/spark-kafka/*.jar"))))

# --- Spark's settings, read when the JVM starts (like spark-submit's command line) --
os.environ.setdefault("SPARK_CONF_DIR", os.path.join(_INFRA, "spark-conf"))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers: this Python, not python3
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no "resolves to a loopback" warning
if "PYSPARK_SUBMIT_ARGS" not in os.environ:
    _ui = "--conf spark.ui.enabled=false " if os.environ.get("SPARK_UI") == "off" else ""
    os.environ["PYSPARK_SUBMIT_ARGS"] = f"--master {SPARK_MASTER} {_ui}pyspark-shell"
logging.getLogger("kafka").setLevel(logging.CRITICAL)  # we say what went wrong ourselves


def _start_jvm_in_its_own_session():
    """Ctrl-C in a terminal goes to every process of the terminal's foreground group.
    Spark's JVM ignores it, but the Python workers it starts would die in the middle
    of a task (with a wall of errors). So the JVM starts in a session of its own, and
    only this script hears Ctrl-C: it stops Spark gracefully (see _on_ctrl_c).
    Ctrl-C while Spark is still starting exits at once, quietly."""
    try:
        import pyspark.core.context as context
    except ImportError:  # a Kafka-only image has no pyspark
        return
    launch = context.launch_gateway

    def launch_gateway(conf=None, popen_kwargs=None):
        def exit_now(signum, frame):
            print("\nCtrl-C while Spark starts: exiting.", file=sys.stderr, flush=True)
            os._exit(130)

        signal.signal(signal.SIGINT, exit_now)  # until a stream's own handler takes over
        _check_spark_master()
        jvm_stderr = _pass_on_jvm_stderr()
        try:
            gateway = launch(conf, {**(popen_kwargs or {}), "start_new_session": True,
                                    "stderr": jvm_stderr})
        finally:
            os.close(jvm_stderr)  # the JVM has its own copy
        atexit.register(_pass_on_the_last_jvm_lines)
        return gateway

    context.launch_gateway = launch_gateway


# Lines Spark's JVM prints on every run that say nothing to a student; the JVM's other
# lines (Spark's warnings and errors, the Python workers' errors) pass on unchanged.
_HARMLESS_JVM_LINES = re.compile(
    # Spark's launcher adds the incubating Vector API module (faster vector maths), and
    # the JVM says so at every start; no flag silences it.
    rb"WARNING: Using incubator modules: jdk\.incubator\.vector\s*$"
    # MLlib looks for a native BLAS library, prints from C that it found none, and uses
    # its own Java BLAS, which is fast enough for the course.
    rb"|netlib-blas: JNI_OnLoad: dlopen\(libblas\.so\.3\) failed: ")
_jvm_stderr_seen = [time.monotonic()]  # when the JVM last wrote a line


def _pass_on_jvm_stderr():
    """A pipe for the JVM's stderr: a thread passes each line on to this script's
    stderr as it comes, except the _HARMLESS_JVM_LINES. Returns the pipe's write end."""
    read_end, write_end = os.pipe()

    def pass_on():
        with open(read_end, "rb") as jvm:
            for line in jvm:
                _jvm_stderr_seen[0] = time.monotonic()
                if not _HARMLESS_JVM_LINES.match(line):
                    sys.stderr.buffer.write(line)
                    sys.stderr.flush()

    threading.Thread(target=pass_on, name="jvm-stderr", daemon=True).start()
    return write_end


def _pass_on_the_last_jvm_lines(quiet_s=0.2, at_most_s=2):
    """At exit, before the prompt comes back: the JVM's last lines (it lives on while this
    process exits, and ends with it), until it has been quiet for a moment."""
    deadline = time.monotonic() + at_most_s
    while time.monotonic() - _jvm_stderr_seen[0] < quiet_s and time.monotonic() < deadline:
        time.sleep(0.05)


def _check_spark_master():
    """SPARK_MASTER=spark://HOST:PORT (a standalone cluster, advanced/spark_cluster):
    say in one line when no master answers there (Spark would retry for a minute, with
    stack traces), and warn when its workers may be other machines while the addresses
    its executors connect back to (the driver and a DStream bridge on SPARK_LOCAL_IP,
    Kafka on KAFKA_SERVER) are loopback ones, which mean "this machine" to each of them."""
    import socket

    if not SPARK_MASTER.startswith("spark://"):
        return
    host, _, port = SPARK_MASTER[len("spark://"):].split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except (OSError, ValueError):
        sys.exit(f"error: no Spark master answers on {SPARK_MASTER} (SPARK_MASTER). Fix: start "
                 "the course's cluster, bash infra/spark.sh cluster start, or unset SPARK_MASTER (local[*])")

    def loopback(address):
        return address in ("localhost", "::1") or address.startswith("127.")

    ours = [os.environ.get("SPARK_LOCAL_IP", ""), *(s.rsplit(":", 1)[0] for s in KAFKA_SERVER.split(","))]
    if not loopback(host) and any(map(loopback, ours)):
        print(f"warning: executors on other machines than this one cannot reach SPARK_LOCAL_IP="
              f"{ours[0]} or KAFKA_SERVER={KAFKA_SERVER}: set them to addresses they can reach",
              file=sys.stderr, flush=True)


_start_jvm_in_its_own_session()

NO_BROKER = ("error: no Kafka broker answers on {server}. "
             "Start one: bash infra/kafka.sh start (or docker compose up -d kafka)")


def exit_no_broker(server=KAFKA_SERVER):
    """Exit (status 1) with the one-line message that says no broker answers."""
    sys.exit(NO_BROKER.format(server=server))


def check_broker(server=KAFKA_SERVER, timeout_s=4.0):
    """Exit with that line unless a broker answers: Spark's Kafka source would
    otherwise retry for ever, silently."""
    from kafka import KafkaAdminClient

    try:
        KafkaAdminClient(bootstrap_servers=server, bootstrap_timeout_ms=int(timeout_s * 1000),
                         request_timeout_ms=int(timeout_s * 1000)).close()
    except Exception:
        exit_no_broker(server)


def skipped(topic, partition, offset, why=""):
    """Report a malformed message, in the one format of the course, on stderr."""
    print(f"skipped malformed message at {topic}/{partition}/{offset}"
          + (f": {why}" if why else ""), file=sys.stderr, flush=True)


class RunStats:
    """What a stream processed in this run: messages, malformed ones, batches."""

    def __init__(self):
        self.messages = self.malformed = self.batches = 0
        # Cleared while a stop is under way in another thread (a DStream's: Spark
        # and the bridge still stopping): the counts are final once it is set.
        self.stopped = threading.Event()
        self.stopped.set()

    def as_dict(self):
        self.stopped.wait(60)
        return {"messages": self.messages, "malformed": self.malformed, "batches": self.batches}


def final(stats=None, **results):
    """Print the line that ends every bounded run: FINAL {json}. The keys every
    consumer shares come first: messages, malformed, batches (Spark jobs)."""
    summary = {**(stats.as_dict() if isinstance(stats, RunStats) else stats or {}), **results}
    print("FINAL " + json.dumps(summary, ensure_ascii=False), flush=True)


def _limit_reached(args, start, stats):
    """The flag whose limit a run has reached ("--seconds 30"), or None."""
    for flag, value, done in (
            ("--seconds", getattr(args, "seconds", None), lambda v: time.monotonic() - start >= v),
            ("--max-messages", getattr(args, "max_messages", None), lambda v: stats.messages >= v),
            ("--batches", getattr(args, "batches", None), lambda v: stats.batches >= v)):
        if value is not None and done(value):
            return f"{flag} {value:g}"
    return None


def _on_ctrl_c(stop):
    """Ctrl-C sets `stop` (a threading.Event) instead of raising KeyboardInterrupt
    in the middle of a call into the JVM; a second Ctrl-C exits at once."""
    first = []

    def handler(signum, frame):
        # One key press can arrive twice (to the process and its group): only a
        # Ctrl-C more than a second after the first one forces the exit.
        if first and time.monotonic() - first[0] > 1.0:
            print("\nSecond Ctrl-C: exiting at once.", file=sys.stderr, flush=True)
            os._exit(130)
        if not first:
            first.append(time.monotonic())
            print("\nCtrl-C: stopping gracefully (Ctrl-C again to exit at once) ...",
                  file=sys.stderr, flush=True)
            stop.set()

    signal.signal(signal.SIGINT, handler)


def _plural(n, noun, nouns=None):
    """'1 micro-batch', '2 micro-batches'."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


class _QueryEvents:
    """A StreamingQueryListener as Spark's listener bus calls it, through py4j (the Java
    interface PythonStreamingQueryListener): after every micro-batch, and when a query
    ends. It reads each micro-batch's progress as JSON, one call into the JVM, where
    pyspark's StreamingQueryListener converts every field with a call of its own: 0.2 to
    1.5 s a micro-batch on a busy 2-core laptop, longer than the micro-batches of a
    word count, so that it heard of them later and later."""

    def __init__(self, query_id, on_progress, on_terminated):
        self.query_id, self.on_progress, self.on_terminated = query_id, on_progress, on_terminated

    def onQueryStarted(self, event):
        pass

    def onQueryProgress(self, event):
        progress = json.loads(event.progress().json())
        if progress["id"] == self.query_id:
            self.on_progress(progress)

    def onQueryIdle(self, event):  # a trigger that found no new data
        pass

    def onQueryTerminated(self, event):
        if event.id().toString() == self.query_id:
            self.on_terminated()

    class Java:
        implements = ["org.apache.spark.sql.streaming.PythonStreamingQueryListener"]


def _stop_between_micro_batches(query):
    """Stop a query once the micro-batch under way (if any) has finished, before the
    next one fetches offsets or runs a Spark job. query.stop() alone cancels the jobs of
    the micro-batch under way: with a live feed and --trigger 0 there always is one,
    and a stop in its middle prints ERROR WriteToDataSourceV2Exec ... aborting, WARN
    TaskSetManager ... TaskKilled, or (in a foreachBatch function) a StackOverflowError
    of Spark's own (its test for "interrupted by stop" runs a regex over the Python
    traceback). Nor may the query be marked stopped while a micro-batch is planned: Spark
    4.2 then interrupts that micro-batch itself, before its jobs. Spark has no graceful
    stop of its own; it has the lock on which query.processAllAvailable() waits for
    micro-batches to end. Holding that lock keeps the next micro-batch from starting;
    the one under way finishes and signals it."""
    from pyspark import SparkContext

    execution = query._jsq.streamingQuery()  # Spark's MicroBatchExecution
    lock, batch_ended = execution.awaitProgressLock(), execution.awaitProgressLockCondition()
    lock.lock()
    try:
        # A micro-batch planned or running: wait until it has written its output and
        # committed (then the stream thread signals; the next trigger, if it begins,
        # waits for this lock before it fetches any offset).
        while query.isActive and _micro_batch_under_way(query.status):
            batch_ended.awaitNanos(1_000_000_000)  # releases the lock while it waits
        # What query.stop() does, now that no micro-batch runs and none can start:
        # mark the query stopped, and interrupt its thread, which then ends quietly
        # (asleep till the next trigger, or about to fetch the next offsets).
        terminated = getattr(SparkContext._jvm.org.apache.spark.sql.execution.streaming.runtime,
                             "TERMINATED$")
        execution.state().set(getattr(terminated, "MODULE$"))
        execution.queryExecutionThread().interrupt()
    finally:
        lock.unlock()
    if not query.awaitTermination(30):  # the thread ends at once: it has nothing left to do
        query.stop()


def _micro_batch_under_way(status):
    """Whether a micro-batch is being planned, run or committed (Spark's status words:
    a trigger that has begun but waits for the lock says "Waiting for next trigger", one
    that found no data "Waiting for data to arrive")."""
    return status["isTriggerActive"] and status["message"] in (
        "Processing new data", "No new data but cleaning up state")


def stop_query_when_done(query, args, on_progress=None):
    """For a started Structured Streaming query: stop it once args.seconds have passed,
    args.max_messages were read or args.batches micro-batches with data have run (each
    None: no limit), or on Ctrl-C. The micro-batch under way then finishes (with
    --trigger 0 and a live feed there always is one: the next one starts as soon as one
    ends, so a run may end one micro-batch past its limit), the next one never starts,
    and the query stops quietly (see _stop_between_micro_batches).
    Returns a RunStats that counts what the query read, every micro-batch once;
    micro-batch metrics that the script declared with observe("malformed",
    count(...).alias("count"), collect_list(<"topic/partition/offset">).alias("at")) are
    reported and counted as malformed messages. Once the query has stopped (and every
    micro-batch is counted) it prints one line on stderr, how long the micro-batches
    with data took: `8 micro-batches took 0.41 s median, 1.20 s max`.
    on_progress(progress), if given, is called with the progress of each micro-batch
    with data (a dict, as StreamingQueryProgress.json has it) when Spark reports it, once.
    Call query.awaitTermination() after it."""
    from py4j.protocol import Py4JError
    from pyspark import SparkContext
    from pyspark.java_gateway import ensure_callback_server_started

    stats, stop, seen, took = RunStats(), threading.Event(), set(), []
    terminated, counting = threading.Event(), threading.Lock()
    _on_ctrl_c(stop)
    start = time.monotonic()

    def count(p):
        """One micro-batch's progress (a dict, from its JSON), once."""
        with counting:  # the listener's thread and this one, for the batches before it
            if p["batchId"] in seen:
                return
            seen.add(p["batchId"])
        stats.messages += p["numInputRows"]
        stats.batches += p["numInputRows"] > 0
        if p["numInputRows"] > 0:
            took.append(p["durationMs"].get("triggerExecution", 0) / 1000)
        bad = (p.get("observedMetrics") or {}).get("malformed")
        if bad and bad["count"]:
            stats.malformed += bad["count"]
            for where in bad["at"]:
                print(f"skipped malformed message at {where}", file=sys.stderr, flush=True)
        if on_progress is not None and p["numInputRows"] > 0:
            on_progress(p)

    # The listener: registered with Spark's query manager as pyspark's addListener() does.
    ensure_callback_server_started(SparkContext._gateway)
    listener = SparkContext._jvm.org.apache.spark.sql.streaming.PythonStreamingQueryListenerWrapper(
        _QueryEvents(query.id, count, terminated.set))
    streams = query._jsq.sparkSession().streams()
    streams.addListener(listener)
    for p in query._jsq.recentProgress():  # a batch that ended before the listener was added
        count(json.loads(p.json()))

    def watch():
        try:
            while query.isActive and not stop.wait(0.2):
                if reached := _limit_reached(args, start, stats):
                    print(f"{reached} reached: stopping after the micro-batch under way ...",
                          file=sys.stderr, flush=True)
                    break
            if query.isActive:
                try:
                    _stop_between_micro_batches(query)
                except Py4JError:  # another Spark, other internals (README, "Upgrading Spark")
                    query.stop()
            # Spark reports the end of a query after its last micro-batch: all counted.
            terminated.wait(30)
            if took:
                print(f"{_plural(len(took), 'micro-batch', 'micro-batches')} took "
                      f"{statistics.median(took):.2f} s median, {max(took):.2f} s max",
                      file=sys.stderr, flush=True)
        except Exception:  # the query ended on its own (awaitTermination says why)
            pass
        finally:
            try:
                streams.removeListener(listener)
            except Exception:  # the session is already stopped
                pass
            stats.stopped.set()

    stats.stopped.clear()  # course.final() waits until the watcher is done
    threading.Thread(target=watch, name="stop-query-when-done", daemon=True).start()
    return stats


def stop_stream_when_done(ssc, args, bridge=None, queued=None):
    """For a StreamingContext (call it before ssc.start()): stop it once args.seconds
    have passed, args.max_messages lines were processed or args.batches batches with
    data have run (each None: no limit), after the `queued` batches of a
    queueStream(rdds, oneAtATime=True) of that many RDDs, or on Ctrl-C. Every line the
    stream received is processed first, and no batch is cut short:

    - lines from the bridge (a KafkaSocketBridge): the bridge stops forwarding; once
      Spark has put every line it wrote into a batch (at the next batch interval) and
      processed that batch, the StreamingContext stops between two batches, at once:
      nothing is left to do;
    - a queueStream: the same, without a bridge;
    - lines from another receiver (netcat), or with a single core (local[1], where the
      receiver holds the core and no batch runs while it does), or batches that follow
      each other with no gap (they fall behind): Spark's graceful stop. The receiver
      stops, and Spark processes every batch of what it received, and one more batch
      interval;
    then the SparkContext stops and the bridge closes.

    Returns a RunStats (messages = lines processed; batches = batches with data, or the
    queueStream's batches; the script adds its malformed ones); course.final() waits
    until the stop is over. Then it prints one line on stderr, whether the batches keep
    up (their median processing time < the interval; the first batch, which pays for
    Spark's warm-up, apart):
    `12 batches of 10 s: processing took 0.41 s median, 0.60 s max, 1.10 s the first (keeps up: < 10 s)`.
    A receiver's stream warns if the master has one core. Call ssc.awaitTermination()
    after ssc.start()."""
    from pyspark.streaming.listener import StreamingListener

    from kafka_socket_bridge import warn_if_receiver_starves

    receiver = queued is None
    starves = receiver and warn_if_receiver_starves(ssc.sparkContext.master)
    interval = getattr(args, "batch_seconds", None) or 10
    stats, stop, took = RunStats(), threading.Event(), []
    submitted, completed = {}, set()  # batch time (ms) -> its lines; the batches processed
    stats.stopped.clear()

    def count(batch, lines, seconds=None):
        """A processed batch: count its lines, and it, if it had data."""
        completed.add(batch)
        if (stats.batches < queued) if queued is not None else lines > 0:
            stats.batches += 1
            if seconds is not None:
                took.append(seconds)
        stats.messages += lines

    class CountBatches(StreamingListener):
        """Spark reports every batch it makes (with the lines the receiver put in it)
        and every batch it has processed (with how long it took)."""

        def onBatchSubmitted(self, batchSubmitted):
            info = batchSubmitted.batchInfo()
            submitted[info.batchTime().milliseconds()] = info.numRecords()

        def onBatchCompleted(self, batchCompleted):
            info = batchCompleted.batchInfo()
            count(info.batchTime().milliseconds(), info.numRecords(),
                  info.processingDelay() / 1000)  # ms -> s

    ssc.addStreamingListener(CountBatches())
    _on_ctrl_c(stop)
    start = time.monotonic()

    def wait_until(done, seconds):
        deadline = time.monotonic() + seconds
        while not done() and time.monotonic() < deadline:
            time.sleep(0.05)
        return done()

    def unprocessed():  # the batches made that Spark has not reported processed
        return set(dict(submitted)) - completed

    def between_batches():
        """No batch made and not processed, and none due now: Spark makes one at every
        multiple of the interval (epoch time), and reports it a moment later."""
        since_last = time.time() % interval
        margin = min(0.3, interval / 4)
        return margin < since_last < interval - margin and not unprocessed()

    def stop_gracefully():
        """Spark's graceful stop: the receiver first (it may hold lines that nothing else
        has), then every batch made until then, and one more batch interval."""
        ssc.stop(stopSparkContext=False, stopGraceFully=True)
        # Spark has processed them all, but may stop reporting before it has told us of
        # the last ones: they count too.
        for batch in sorted(unprocessed()):
            count(batch, submitted[batch])

    def watch():
        while not stop.wait(0.2):
            if queued is not None and stats.batches >= queued:
                print(f"the last of the {queued} queued RDDs is processed: stopping ...",
                      file=sys.stderr, flush=True)
                break
            if reached := _limit_reached(args, start, stats):
                print(f"{reached} reached: stopping once every line received is processed ..."
                      if receiver else f"{reached} reached: stopping ...", file=sys.stderr, flush=True)
                break
        try:
            written = None
            if bridge is not None:
                # No more lines; the receiver cuts what it read into blocks (every 200 ms),
                # and the next batch interval puts them into a batch.
                written = bridge.stop_forwarding()
                wait_until(lambda: sum(dict(submitted).values()) >= written, interval + 10)
            if receiver and (bridge is None or starves):
                # Lines that only the receiver has (netcat's are gone once read), or batches
                # that cannot run while it holds the only core.
                stop_gracefully()
            else:
                if written is not None:  # the batches holding the lines: processed
                    wait_until(lambda: stats.messages >= written or not unprocessed(), 600)
                # Nothing is left to process: stop between two batches, at once (a graceful
                # stop would wait for one more batch). If batches follow each other with no
                # gap (they fall behind), Spark's graceful stop processes those it made.
                if wait_until(between_batches, 3 * interval + 5):
                    ssc.stop(stopSparkContext=False, stopGraceFully=False)
                else:
                    stop_gracefully()
                # Let a Spark job still under way finish (stopping the SparkContext would
                # kill its tasks, noisily).
                wait_until(lambda: not ssc.sparkContext.statusTracker().getActiveJobsIds(), 30)
            if written is not None and stats.messages < written:
                print(f"warning: {_plural(written - stats.messages, 'line')} the bridge wrote "
                      "were not processed: lost (their offsets are committed)", file=sys.stderr)
            if took:
                # The first batch pays for Spark's warm-up: its figure is apart.
                rest = took[1:] or took
                keeps_up = statistics.median(rest) < interval
                print(f"{_plural(len(took), 'batch', 'batches')} of {interval:g} s: processing took "
                      f"{statistics.median(rest):.2f} s median, {max(rest):.2f} s max"
                      + (f", {took[0]:.2f} s the first" if took[1:] else "")
                      + (" (keeps up: < " if keeps_up else " (falls behind: > ") + f"{interval:g} s)",
                      file=sys.stderr, flush=True)
            ssc.sparkContext.stop()
            if bridge is not None:
                bridge.stop()
        finally:
            stats.stopped.set()

    threading.Thread(target=watch, name="stop-stream-when-done", daemon=True).start()
    return stats
