"""What the course's scripts share that is NOT their lesson. You can skip this file:
each exercise script shows its Kafka and Spark calls itself.

- KAFKA_SERVER                 the broker (env KAFKA_SERVER, default localhost:9092)
- check_broker(), exit_no_broker()
                               the one "no broker" message: one line, exit 1
- DELIVERY_TIMEOUT_MS, flush(producer, ctrl_c), not_sent(),
  producer_final(delivered, failed)
                               the end of a producer's run, broker outage or not:
                               every message sent is delivered or counted as failed,
                               one line says why, and Ctrl-C does not wait for an
                               absent broker
- wait_for_broker(exc)         a consumer's loop when the broker is away: one line, wait
- skipped(topic, partition, offset, why)
                               the one format for a malformed message that is skipped
- parse_value(value, fmt), parse_line(line, fmt), malformed_message(value)
                               what a malformed message is, per message format (the
                               README's table): a value's JSON object or Malformed(why);
                               the same for a line of the Kafka-to-socket bridge; and,
                               as a Spark column, for Structured Streaming's from_json
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
- start_python_workers(sc)     start-up: Spark's Python workers start while the stream
                               starts, not in the middle of its first batch
- hms(ms), epoch_ms(iso)       times as the scripts print them, and Spark's progress
                               report times in epoch ms
- stop_on_ctrl_c(), port_user(port)
                               an Event that Ctrl-C sets (a script that stops itself);
                               who holds a port, for the "port taken" line
- KAFKA_CONNECTOR_JARS         Spark's Kafka connector, as setup.sh resolved it

Importing it also makes a Structured Streaming query that Spark's Kafka source ended
because the broker stayed away for minutes end in one line, not a stack trace; gives
Spark the course's settings, infra/spark-conf/
(spark-defaults.conf: no progress bar, few shuffle partitions; log4j2.properties:
warnings only), as `spark-submit --properties-file ...` would, and the class-data
archive that setup.sh made (spark_archive.py: a faster JVM start); honours
SPARK_MASTER (default local[*]) and SPARK_UI=off (the tests' setting: no web UI);
makes Spark's Python workers run this same Python; and passes on what Spark's JVM
prints, except two lines it prints at every start that say nothing to a student
(see _HARMLESS_JVM_LINES).
"""

import atexit
import glob
import json
import logging
import math
import os
import re
import shlex
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
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers: this Python, not python3
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no "resolves to a loopback" warning


def _spark_submit_args(dump_archive=None):
    """spark-submit's options for the driver JVM: the master, the course's settings
    (infra/spark-conf/: spark-defaults.conf as --properties-file, log4j2.properties as
    log4j's configuration file) and, when setup.sh made one for this Java and this
    Spark, the class-data archive that starts the JVM sooner (spark_archive.py, which
    passes dump_archive to make it)."""
    from spark_archive import archive_for_this_java

    conf = os.path.join(_INFRA, "spark-conf")
    java_options = [f"-Dlog4j2.configurationFile=file:{conf}/log4j2.properties"]
    if dump_archive:
        java_options.append(f"-XX:ArchiveClassesAtExit={dump_archive}")
    elif archive := archive_for_this_java():
        java_options.append(f"-XX:SharedArchiveFile={archive}")
    args = ["--master", SPARK_MASTER, "--properties-file", os.path.join(conf, "spark-defaults.conf"),
            "--conf", "spark.driver.defaultJavaOptions=" + " ".join(map(shlex.quote, java_options))]
    if os.environ.get("SPARK_UI") == "off":
        args += ["--conf", "spark.ui.enabled=false"]
    return shlex.join([*args, "pyspark-shell"])


if "PYSPARK_SUBMIT_ARGS" not in os.environ:
    os.environ["PYSPARK_SUBMIT_ARGS"] = _spark_submit_args()
logging.getLogger("kafka").setLevel(logging.CRITICAL)  # we say what went wrong ourselves


def _start_jvm_in_its_own_session():
    """Ctrl-C in a terminal goes to every process of the terminal's foreground group.
    Spark's JVM ignores it, but the Python workers it starts would die in the middle
    of a task (with a wall of errors). So the JVM starts in a session of its own, and
    only this script hears Ctrl-C: it stops Spark gracefully (see _on_ctrl_c).
    Ctrl-C before that, while Spark starts or a model loads, exits at once, quietly."""
    try:
        import pyspark.core.context as context
    except ImportError:  # a Kafka-only image has no pyspark
        return
    launch, do_init = context.launch_gateway, context.SparkContext._do_init

    def exit_now(signum, frame):
        # (Spark's JVM exits when this process does: it watches its standard input)
        print("\nCtrl-C: exiting (no stream had started: nothing to stop gracefully).", file=sys.stderr,
              flush=True)
        os._exit(130)

    def exit_now_on_ctrl_c():  # until a stream's own handler takes over
        if threading.current_thread() is threading.main_thread():  # (signals: main thread only)
            signal.signal(signal.SIGINT, exit_now)

    def init_spark_context(self, *args, **kwargs):
        do_init(self, *args, **kwargs)
        # pyspark's SparkContext sets a handler of its own that raises KeyboardInterrupt
        # wherever the script is, inside a call into the JVM too: a traceback of 40 lines.
        exit_now_on_ctrl_c()

    def launch_gateway(conf=None, popen_kwargs=None):
        exit_now_on_ctrl_c()
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
    context.SparkContext._do_init = init_spark_context


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


def start_python_workers(spark_context):
    """Start-up: Spark starts its Python worker daemon, and forks the first worker from
    it, only when a task first runs Python code; for an MLlib step that is in the
    middle of the first batch, and with pyspark.mllib to import (mllib_daemon.py)
    it costs about 1.3 s there on a 2-core laptop. This one-task job, on a thread of
    its own while the stream starts, pays for it on the other core instead. The daemon
    then serves every later Python task of the RDD API (a DStream's, MLlib's); the
    pandas UDFs of Structured Streaming have a daemon of their own."""
    def one_python_task():
        try:
            spark_context.parallelize([0], 1).map(bool).count()
        except Exception:  # Spark stopped first: nothing left to start
            pass

    threading.Thread(target=one_python_task, name="start-python-workers", daemon=True).start()


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


# --- producers: the end of a run, with or without a broker -------------------------
# How long a message may wait for the broker's acknowledgement, retries included, before
# the producer fails it (kafka-python's delivery_timeout_ms, 120 s by default): a broker
# away for less loses nothing. Env KAFKA_DELIVERY_TIMEOUT_MS changes it (the tests shorten
# it); kafka-python wants it no shorter than its request timeout, 30 s.
DELIVERY_TIMEOUT_MS = os.environ.get("KAFKA_DELIVERY_TIMEOUT_MS", "120000")
if not DELIVERY_TIMEOUT_MS.isdigit() or int(DELIVERY_TIMEOUT_MS) < 30000:
    sys.exit(f"error: KAFKA_DELIVERY_TIMEOUT_MS={DELIVERY_TIMEOUT_MS} is not a delivery timeout "
             "kafka-python takes: milliseconds, at least 30000 (its request timeout). "
             "Fix: unset it (120000) or raise it")
DELIVERY_TIMEOUT_MS = int(DELIVERY_TIMEOUT_MS)
CTRL_C_FLUSH_S = 3.0  # after Ctrl-C, how long flush() waits for the broker
_ending = {"gave_up": None, "not_sent": 0}  # what flush() and not_sent() saw, for producer_final()


def not_sent():
    """For a producer's loop, when send() itself raised KafkaTimeoutError: it waited
    max_block_ms (60 s) for the topic's metadata (where its partitions live) and no
    broker answered. Stop sending there (return from the loop); producer_final() counts
    that message as failed and says why."""
    _ending["not_sent"] += 1


def flush(producer, ctrl_c=False):
    """producer.flush() at the end of a producer's run: wait until the broker has
    acknowledged every message sent (each callback reports one), saying so when that
    takes a while. The wait ends after the delivery timeout (DELIVERY_TIMEOUT_MS) or,
    after Ctrl-C (ctrl_c=True, or Ctrl-C while it waits), after CTRL_C_FLUSH_S: then
    every message still unacknowledged fails at once, each reported by its errback, so
    that none is left without an outcome. Call producer.close() after it."""
    from kafka.errors import KafkaTimeoutError

    # kafka-python 3.0 does not expire messages while the broker is away for longer than
    # the delivery timeout (it first waits to register its idempotent producer id with
    # the broker again), so the wait itself is bounded here.
    wait = CTRL_C_FLUSH_S if ctrl_c else DELIVERY_TIMEOUT_MS / 1000 + 5
    try:
        try:
            producer.flush(timeout=min(wait, 2.0))
        except KafkaTimeoutError:  # not acknowledged within 2 s: the broker may be away
            limit = (f"{wait:g} s at most" if ctrl_c else f"up to the delivery timeout, "
                     f"{DELIVERY_TIMEOUT_MS / 1000:g} s; Ctrl-C: stop waiting")
            print(f"waiting for the broker on {KAFKA_SERVER} to acknowledge the messages sent "
                  f"({limit}) ...", file=sys.stderr, flush=True)
            producer.flush(timeout=max(wait - 2.0, 0.1))
        return
    except KafkaTimeoutError:
        _ending["gave_up"] = "Ctrl-C" if ctrl_c else "The delivery timeout has passed"
    except KeyboardInterrupt:
        _ending["gave_up"] = "Ctrl-C"
    print(f"{_ending['gave_up']}: not waiting for the broker on {KAFKA_SERVER} any longer; "
          "every message it has not acknowledged fails now", file=sys.stderr, flush=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a moment, not to be cut in half
    # kafka-python's close(timeout) raises when the timeout passes, where the Java
    # client's aborts what is left. So force the close: the producer's thread fails
    # every pending message (their errbacks run), and flush() returns once it has.
    producer._sender.force_close()
    producer.flush(timeout=10)


def producer_final(delivered, failed):
    """The end of a producer's run: when messages failed, one line that says why and what
    to do; then FINAL {"delivered": N, "failed": N}. Returns the exit status, 1 if any
    message failed."""
    failed += _ending["not_sent"]
    if failed:
        timeout, again = f"{DELIVERY_TIMEOUT_MS / 1000:g} s", "then send them again"
        gave_up, answers = _ending["gave_up"] or _ending["not_sent"], None
        if _ending["gave_up"] != "Ctrl-C":  # after Ctrl-C, be quick: no look at the broker
            answers = _broker_answers()
        if _ending["gave_up"] == "Ctrl-C":
            why = (f"the broker on {KAFKA_SERVER} had not acknowledged them when Ctrl-C stopped "
                   f"the run. Check it (bash infra/kafka.sh status), {again}")
        elif answers is False:
            why = (f"no Kafka broker answers on {KAFKA_SERVER}: it went away during the run"
                   + (", and send() waited 60 s (max_block_ms) for it" if _ending["not_sent"] else
                      f", for longer than the delivery timeout ({timeout})")
                   + f". Start it (bash infra/kafka.sh start), {again}")
        elif gave_up:
            why = (f"the broker on {KAFKA_SERVER} was away for longer than the producer waits "
                   f"(the delivery timeout, {timeout}). Check it (bash infra/kafka.sh status), {again}")
        else:
            why = "see their delivery reports above"
        print(f"error: {failed} message(s) not delivered: {why}", file=sys.stderr, flush=True)
    final(delivered=delivered, failed=failed)
    return 1 if failed else 0


_broker_away = [0.0]  # when wait_for_broker() was last called


def wait_for_broker(exc, pause_s=1.0):
    """For a consumer's loop, when a call to the broker (poll, commit) raised exc: if
    it is a retriable error (the broker is away, restarting, or moving a partition),
    say so in one line (once per outage), wait pause_s and return, so that the loop
    tries again and goes on where it was once the broker is back. Any other error is
    raised again."""
    if not getattr(exc, "retriable", False):
        raise exc
    if time.monotonic() - _broker_away[0] > 60:
        print(f"the broker on {KAFKA_SERVER} does not answer ({type(exc).__name__}): waiting "
              "for it to come back (nothing is lost; Ctrl-C stops) ...", file=sys.stderr, flush=True)
    _broker_away[0] = time.monotonic()
    time.sleep(pause_s)


def _one_line_when_the_broker_stays_away(exc_type, exc, tb):
    """A Structured Streaming query that Spark's Kafka source ended, after its retries,
    because no broker answered for minutes: one line instead of a Java stack trace
    (query.awaitTermination() raises it). Any other error: Python's usual traceback."""
    if (exc_type.__name__ == "StreamingQueryException"
            and "org.apache.kafka.common.errors.TimeoutException" in str(exc)):
        print(f"error: the streaming query stopped: no Kafka broker answered on {KAFKA_SERVER} "
              "for minutes, and Spark's Kafka source gave up (TimeoutException). Start the broker "
              "(bash infra/kafka.sh start) and run again: the checkpoint goes on where the query "
              "stopped", file=sys.stderr, flush=True)
        return
    sys.__excepthook__(exc_type, exc, tb)


sys.excepthook = _one_line_when_the_broker_stays_away


def _broker_answers(server=KAFKA_SERVER, timeout_s=3.0):
    from kafka import KafkaAdminClient

    try:
        KafkaAdminClient(bootstrap_servers=server, bootstrap_timeout_ms=int(timeout_s * 1000),
                         request_timeout_ms=int(timeout_s * 1000)).close()
        return True
    except KeyboardInterrupt:  # Ctrl-C while we look: we do not know
        return None
    except Exception:
        return False


def skipped(topic, partition, offset, why=""):
    """Report a malformed message, in the one format of the course, on stderr."""
    print(f"skipped malformed message at {topic}/{partition}/{offset}"
          + (f": {why}" if why else ""), file=sys.stderr, flush=True)


# --- What a malformed message is: the README's table "What counts as malformed", in code --
# One definition per message format, for the Python side (consumers, DStream parse
# functions, foreachBatch code: parse_value, parse_line) and, for the Structured
# Streaming jobs that read the simple_producer format with from_json, the same rules as
# a Spark column (malformed_message). tests/test_bad_input.py holds them to the same
# corpus of bad values (tests/bad_values.py).

class Malformed(ValueError):
    """A message that is not of its exercise's format; str() says what is wrong."""


def _is_integer(v):  # bool is an int in Python, not in JSON; a long has 64 bits
    return isinstance(v, int) and not isinstance(v, bool) and -2**63 <= v < 2**63


def _is_number(v):  # finite: NaN and Infinity are no JSON numbers, 1e400 overflows
    try:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    except OverflowError:  # an integer too big for a float
        return False


def _numbers(count=None):
    """A test for a list of numbers: `count` of them, or at least one."""
    return lambda v: (isinstance(v, list) and (len(v) == count if count else len(v) > 0)
                      and all(map(_is_number, v)))


def _field(obj, name, what, ok, whose=""):
    """obj[name], if it is there and ok(); else Malformed: '"msg" is not a string'."""
    if name not in obj:
        raise Malformed(f'{whose}"{name}" is missing')
    if not ok(obj[name]):
        raise Malformed(f'{whose}"{name}" is not {what}')
    return obj[name]


def _rows(message, what, ok):
    rows = _field(message, "rows", what, ok)
    if not all(isinstance(row, dict) for row in rows):
        raise Malformed("a row is not an object")
    return rows


def _message(m):  # simple_producer, hamlet_producer: {"time": <epoch ms>, "msg": "..."}
    _field(m, "time", "an integer", _is_integer)
    _field(m, "msg", "a string", lambda v: isinstance(v, str))


def _matrix(m):  # autodatascientist: {"rows": [{"x": [...], "label": 0}, ...], "score": 0.9}
    rows = _rows(m, "a list of 2 rows or more", lambda v: isinstance(v, list) and len(v) >= 2)
    for row in rows:
        _field(row, "x", "a list of numbers", _numbers(), whose="a row's ")
        _field(row, "label", "an integer", _is_integer, whose="a row's ")
    if len({len(row["x"]) for row in rows}) > 1:
        raise Malformed("rows of different lengths: not a matrix")
    _field(m, "score", "a number", _is_number)


def _trendy(m):  # trendy_prices: {"t": 12.0, "true_weights": [5], "rows": [{"x", "known", "label"}]}
    _field(m, "t", "a number", _is_number)
    _field(m, "true_weights", "a list of 5 numbers", _numbers(5))
    for row in _rows(m, "a list of rows", lambda v: isinstance(v, list) and len(v) > 0):
        _field(row, "x", "a list of 5 numbers", _numbers(5), whose="a row's ")
        if _field(row, "known", "true or false", lambda v: isinstance(v, bool), whose="a row's "):
            _field(row, "label", "a number", _is_number, whose="a known row's ")


def _tweet(m):  # twitter_cluster: {"text": "...", "lang": "en"}
    _field(m, "text", "a string", lambda v: isinstance(v, str))
    _field(m, "lang", "a string", lambda v: isinstance(v, str))


FORMATS = {"message": _message, "matrix": _matrix, "trendy": _trendy, "tweet": _tweet}


def _not_a_number(constant):
    raise ValueError(f"{constant} is not a JSON number")


def text_of(value):
    """A Kafka message value (bytes; None for a tombstone) as text, or Malformed."""
    if value is None:
        raise Malformed("no value (a tombstone)")
    if isinstance(value, str):
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("not UTF-8") from None


def parse_value(value, fmt):
    """A message's value (bytes from Kafka, or its text; None for a tombstone) -> its
    JSON object, checked against the format fmt ("message", "matrix", "trendy" or
    "tweet"). Raises Malformed saying what is wrong, in a few words: "not UTF-8",
    "not JSON", "JSON nested too deep", "JSON array, not an object", '"msg" is missing',
    '"msg" is not a string', ... Fields beyond the format's are allowed."""
    text = text_of(value)
    if not text:
        raise Malformed("empty value")
    try:
        # Python's json accepts NaN and Infinity (no JSON numbers): not here.
        message = json.loads(text, parse_constant=_not_a_number)
    except RecursionError:  # Python's json gives up at about 1,000 levels
        raise Malformed("JSON nested too deep") from None
    except ValueError:
        raise Malformed("not JSON") from None
    if not isinstance(message, dict):
        kind = ("null" if message is None else "boolean" if isinstance(message, bool) else
                "string" if isinstance(message, str) else "array" if isinstance(message, list)
                else "number")
        raise Malformed(f"JSON {kind}, not an object")
    FORMATS[fmt](message)
    return message


def parse_line(line, fmt):
    """A line of the Kafka-to-socket bridge (infra/python/kafka_socket_bridge.py) ->
    (address, message, why): address is (topic, partition, offset); then the JSON
    object and None for a good message, or None and what is wrong for a malformed one."""
    address, tab, value = line.partition("\t")
    why = None
    if not tab:  # a value that is not text: the bridge wrote what is wrong after the address
        address, _, why = address.partition(" ")
    topic, partition, offset = address.rsplit("/", 2)
    address = (topic, int(partition), int(offset))
    if why:
        return address, None, why
    try:
        return address, parse_value(value, fmt), None
    except Malformed as exc:
        return address, None, str(exc)


def malformed_message(value="value"):
    """parse_value(value, "message") as a Spark column, for the Structured Streaming jobs
    that read the simple_producer format with from_json: null for a good message, else
    what is wrong, in the same words. from_json alone cannot tell: it reads
    {"time": 1, "msg": 5} as the text "5", a "time" of "soon" as a null, and NaN as a
    number. `value` is the Kafka value column (or its name)."""
    from pyspark.sql import functions as F

    raw = F.col(value) if isinstance(value, str) else value
    text = raw.cast("string")
    parsed = F.try_parse_json(text)  # a VARIANT; null if the text is not JSON (or too deep)
    kind = F.schema_of_variant(parsed)  # "OBJECT<msg: STRING, time: BIGINT>", "ARRAY<...>", ...
    head = F.substring(text, 1, 10000)  # its nesting depth there: opened minus closed
    depth = F.length(F.translate(head, "]}", "")) - F.length(F.translate(head, "[{", ""))

    def field(name, what, kinds):
        got = F.variant_get(parsed, f"$.{name}", "variant")
        return [(got.isNull(), f'"{name}" is missing'),
                (~F.schema_of_variant(got).isin(*kinds), f'"{name}" is not {what}')]

    checks = [
        (raw.isNull(), "no value (a tombstone)"),
        (F.length(raw) == 0, "empty value"),
        (~F.is_valid_utf8(text), "not UTF-8"),
        (parsed.isNull() & (depth >= 1000), "JSON nested too deep"),
        (parsed.isNull(), "not JSON"),
        (kind.startswith("ARRAY"), "JSON array, not an object"),
        (kind == "STRING", "JSON string, not an object"),
        (kind == "VOID", "JSON null, not an object"),
        (kind == "BOOLEAN", "JSON boolean, not an object"),
        (~kind.startswith("OBJECT"), "JSON number, not an object"),
        # Spark's parser stops after the object; Python's json (rightly) does not.
        (~F.regexp_like(text, F.lit(r"\}[ \t\n\r]*$")), "not JSON"),
        *field("time", "an integer", ["TINYINT", "SMALLINT", "INT", "BIGINT"]),
        *field("msg", "a string", ["STRING"]),
    ]
    why = F.when(*checks[0])
    for test, what in checks[1:]:
        why = why.when(test, what)
    return why


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


def hms(ms):
    """An epoch time in ms as the scripts print it: 14:03:25 (local time)."""
    from datetime import datetime

    return datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S")


def epoch_ms(iso):
    """A time of Spark's progress reports ("2024-01-01T00:00:41.000Z") in epoch ms."""
    from datetime import datetime

    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def stop_on_ctrl_c():
    """A threading.Event that Ctrl-C sets, for a script that stops itself gracefully (a
    second Ctrl-C, more than a second later, exits at once)."""
    stop = threading.Event()
    _on_ctrl_c(stop)
    return stop


def port_user(port):
    """Who listens on this machine's TCP port: "python3 (pid 4242)", or "another program"
    when `ss` cannot tell (as port_user in infra/common.sh)."""
    import subprocess

    try:
        out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True,
                             timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    found = re.search(r'users:\(\("([^"]*)",pid=(\d+)', out)
    return f"{found[1]} (pid {found[2]})" if found else "another program"
