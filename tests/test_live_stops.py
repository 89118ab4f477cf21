"""Every Spark exercise, both APIs, every part that streams, fed live by a producer and
stopped twice: once by its bound (--max-messages, --batches, --count), once by Ctrl-C
(SIGINT to the run's process group, as a terminal sends it) a second after a batch
printed, while messages keep coming. Here the DStream parts; the Structured Streaming
ones are in test_live_stops_structured.py (so that the two halves can run side by
side). tests/benchmark.py times the same runs' Ctrl-C.

A stop must be quiet: no ERROR, no Exception, no WARN TaskSetManager (a task killed),
no Java frame, no Python traceback; no batch printed after the stop's summary line;
exit 0. And nothing received is lost or counted twice: FINAL's counts agree with what
the run printed and with what it read (the group's committed offsets for the DStream
bridge, the checkpoint for Structured Streaming, or the first N messages of the topic,
which a job reading from the earliest offset must have read, in order).
At the end: Ctrl-C before a stream has started (a batch job, a model that loads).

With --trigger 0 (the default of the Structured word counts) and a live feed, the next
micro-batch starts as soon as one ends: a stop always meets a micro-batch under way,
which is where a stop used to cancel Spark jobs (ERROR WriteToDataSourceV2Exec ...
aborting) or, in a foreachBatch function, overflow the stack of Spark's stream thread.
"""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from conftest import KAFKA_SERVER, ROOT, final

NOISE = re.compile(r"ERROR|Exception|WARN TaskSetManager|^\s*at (?:org|java)\.|Traceback \(most",
                   re.MULTILINE)
STOP_SUMMARY = re.compile(r"^\d+ (?:micro-)?batch(?:es)? (?:took|of [\d.]+ s: processing took) ",
                          re.MULTILINE)
HAMLET = [line for line in (ROOT / "day2/stateful_wordcount/hamlet.txt").read_text("utf-8").splitlines()
          if line.strip()]


# --- what feeds a run: a producer, or someone typing into netcat ----------------------
class Feed:
    """A producer thread: message(i) to a topic of one partition, `rate` a second,
    until the block ends. .sent[offset] is every message the broker acknowledged."""

    def __init__(self, topic, message, rate=20):
        self.topic, self.message, self.rate = topic, message, rate
        self.sent, self._stop = {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        producer = KafkaProducer(bootstrap_servers=KAFKA_SERVER, linger_ms=5)
        futures, i, start = [], 0, time.monotonic()
        while not self._stop.is_set():
            value = self.message(i)
            futures.append((value, producer.send(self.topic, json.dumps(value).encode())))
            i += 1
            self._stop.wait(max(0.0, start + i / self.rate - time.monotonic()))
        producer.flush()
        for value, future in futures:
            self.sent[future.get(timeout=10).offset] = value
        producer.close()

    def first(self, n):
        """The first n messages of the topic, in offset order."""
        assert n <= len(self.sent), (n, len(self.sent))
        return [self.sent[offset] for offset in range(n)]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(60)


class NetcatFeed:
    """Plays `nc -lk PORT` with someone typing: to every connection that stays open
    (the script first probes the port and closes it, then Spark's receiver connects)
    it sends line(i), `rate` a second. .lines: every line sent."""

    def __init__(self, line, rate=10):
        self.line, self.rate, self.lines, self.conns = line, rate, [], []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._stop = threading.Event()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:  # closed
                return
            self.conns.append(conn)
            conn.settimeout(1.0)
            try:
                if conn.recv(1) == b"":  # the peer closed at once: a probe
                    continue
            except TimeoutError:
                pass
            try:
                while not self._stop.wait(1 / self.rate):
                    line = self.line(len(self.lines))
                    conn.sendall((line + "\n").encode())
                    self.lines.append(line)
            except OSError:  # the receiver went away: the run stopped
                pass

    def __enter__(self):
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.server.close()
        for conn in self.conns:
            conn.close()


def hello(i):
    return {"time": int(time.time() * 1000), "msg": f"Hello world number {i % 7}"}


def hamlet_line(i):
    return {"time": int(time.time() * 1000), "msg": HAMLET[i % len(HAMLET)]}


def trendy(i):  # 10 rows, 5 of them with a label
    rows = [{"x": [((i + j) % 10) / 10] * 5, "known": j < 5, "label": 0.1 if j < 5 else None}
            for j in range(10)]
    return {"t": i * 0.2, "true_weights": [0.02] * 5, "rows": rows}


def tweet(i):
    texts = ["the cat sits on the mat today", "el gato duerme en la casa hoy", "le chat dort dans la maison"]
    return {"text": f"{texts[i % 3]} {i}", "lang": ["en", "es", "fr"][i % 3]}


def netcat_line(i):
    return f"to be or not to be line {i % 5}"


# --- running a part as a student does, and stopping it --------------------------------
def run_live(args, ready, stop, timeout=300, wait_after_ready=1.0):
    """Run `bash <args>` as a student does, in a process group of its own (a terminal's
    foreground job). stop="bound": it stops by itself. stop="sigint": once a line of its
    output matches `ready` (a batch printed), wait `wait_after_ready` s and press Ctrl-C:
    SIGINT to the group. Returns the output (stdout and stderr, in order), the exit code
    and the seconds from the SIGINT to the exit (None for a bound run)."""
    proc = subprocess.Popen(["bash", *map(str, args)], cwd=ROOT, text=True, start_new_session=True,
                            env={**os.environ, "KAFKA_SERVER": KAFKA_SERVER, "SPARK_UI": "off"},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines, printed, pressed = [], threading.Event(), None

    def read():
        for line in proc.stdout:
            lines.append(line)
            if re.search(ready, line):
                printed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if stop == "sigint":
            assert printed.wait(timeout), f"no batch printed within {timeout} s:\n{''.join(lines)[-3000:]}"
            time.sleep(wait_after_ready)
            os.killpg(proc.pid, signal.SIGINT)
            pressed = time.monotonic()
        proc.wait(timeout)
        took = time.monotonic() - pressed if pressed else None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        reader.join(10)
    return "".join(lines), proc.returncode, took


def committed_offset(topic, group):
    admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVER)
    try:
        partition = TopicPartition(topic, 0)
        return admin.list_group_offsets({group: [partition]})[group][partition].offset
    finally:
        admin.close()


def checkpoint_read(checkpoint):
    """The offsets the last committed micro-batch of a query's checkpoint read up to,
    summed over partitions; and whether a micro-batch was begun but not committed."""
    def ids(folder):
        return sorted(int(f.name) for f in (Path(checkpoint) / folder).iterdir() if f.name.isdigit())

    offsets, commits = ids("offsets"), ids("commits")
    last = (Path(checkpoint) / "offsets" / str(commits[-1])).read_text().splitlines()[-1]
    return (sum(n for partitions in json.loads(last).values() for n in partitions.values()),
            offsets[-1] != commits[-1])


def hamlet_words(lines):
    """stateful_wordcount's word rule: lower case, runs of letters and apostrophes."""
    return Counter(w.strip("'") for line in lines for w in re.findall(r"[a-z']+", line.lower())
                   if w.strip("'"))


def words_of(messages, lower=False):
    return Counter(w for m in messages for w in (m["msg"].lower() if lower else m["msg"]).split())


def json_after(prefix, output):
    return [json.loads(line) for line in re.findall(rf"^{prefix}(\{{.*)$", output, re.MULTILINE)]


# --- every part that streams: how to run it, and what its FINAL must agree with ---------
@dataclass
class Part:
    run: list  # run.sh, part word, options; {topic}, {tmp} and {model} are filled in
    ready: str  # a line printed for a batch with data
    batch: str  # a line every printed batch starts with
    interval: float  # seconds between batches as a student runs it (run without `quick`)
    check: object  # check(result, output, run) asserts that FINAL counted each message once
    quick: list = field(default_factory=list)  # options that make a test's run short
    bound: list = field(default_factory=list)  # the bound of the run stopped by its bound
    feed: object = None  # message(i) for a Feed, or netcat_line for a NetcatFeed
    rate: float = 20  # messages (lines) a second


@dataclass
class Run:
    """One run's context for its check."""
    stop: str
    topic: str = None
    tmp: Path = None
    feed: object = None
    bounded_by: int = 1  # the least a bound run must have counted


def check_bridge_word_count(result, output, run):
    # The bridge committed what it wrote, and every line it wrote was counted, once.
    assert result["messages"] == committed_offset(run.topic, f"g-{run.topic}") >= run.bounded_by
    assert result["words"] == words_of(run.feed.first(result["messages"]))
    assert "were not processed" not in output


def check_netcat(result, output, run):
    # Every line the receiver got was processed (a graceful stop), once: the words of
    # the first `messages` lines sent; and the batches printed add up to them.
    assert run.bounded_by <= result["messages"] <= len(run.feed.lines)
    assert result["words"] == Counter(w for line in run.feed.lines[:result["messages"]] for w in line.split())
    printed = sum(int(n) for n in re.findall(r"^Batch .*?: (\d+) words", output, re.MULTILINE))
    assert printed == sum(result["words"].values())


def check_structured_word_count(result, output, run):
    read, cut_short = checkpoint_read(run.tmp / "ckpt")
    assert not cut_short, "a micro-batch was begun and not committed: it was cut short"
    assert result["messages"] == read >= run.bounded_by
    assert result["words"] == words_of(run.feed.first(read), lower=True)


def check_stateful_dstream(result, output, run):
    shown = len(re.findall(r"^--- batch \d+ ", output, re.MULTILINE))
    assert result["batches"] == result["messages"] == shown >= max(run.bounded_by, 2)
    assert result["totals"] == hamlet_words(HAMLET[:shown])


def check_stateful_structured(result, output, run):
    # From the earliest offset, in order: the totals of exactly the first `messages` lines.
    assert result["messages"] >= run.bounded_by
    assert result["totals"] == hamlet_words(m["msg"] for m in run.feed.first(result["messages"]))


def check_windowed_dstream(result, output, run):
    assert "--batches" not in output  # the student passed --count
    n = len(result["pairs"])
    assert result["pairs"] == [[x, 2 * x - 1] for x in range(1, n + 1)]
    assert result["batches"] == n == output.count("Time: ") >= max(run.bounded_by, 2)


def check_windowed_events(result, output, run):
    # Each message is in two windows (10 s long, one every 5 s); the late one in none.
    assert result["messages"] >= run.bounded_by
    late = result["dropped_late_rows"] // 2
    assert late in (0, 1) and (late == 0 or result["late_event_time"])
    assert sum(n for _, _, n in result["windows"]) == 2 * (result["messages"] - late)


def check_trendy(result, output, run):
    assert result["messages"] >= run.bounded_by
    batches = [b for b in json_after("", output) if "trained_rows" in b]
    assert result["updates"] == len(batches)
    assert sum(b["trained_rows"] for b in batches) == 5 * result["messages"]  # 5 labelled rows each


def check_trendy_dstream(result, output, run):
    check_trendy(result, output, run)
    assert result["messages"] == committed_offset(run.topic, f"g-{run.topic}")


def check_predict(result, output, run):
    # Every tweet read was shown, once: the first `messages` of the topic.
    assert result["messages"] >= run.bounded_by
    shown = [d["at"] for d in json_after("", output) if "cluster" in d]
    assert sorted(shown, key=lambda at: int(at.rsplit("/", 1)[1])) == \
        [f"{run.topic}/0/{offset}" for offset in range(result["messages"])]
    assert result["shown"] == result["messages"]


def check_streaming_kmeans(result, output, run):
    batches = json_after("BATCH ", output)
    assert result["messages"] == result["tweets"] == sum(b["tweets"] for b in batches) >= run.bounded_by
    assert result["batches"] == len(batches)


DSTREAM_PARTS = {  # the DStream API: receivers (the Kafka bridge, netcat) and queueStreams
    "simple_sparkstream wordcount": Part(
        ["day1/simple_sparkstream/run.sh", "--topic", "{topic}", "--group", "g-{topic}"],
        r"^Batch .*: [1-9]\d* messages", r"^Batch \d", 10, check_bridge_word_count,
        quick=["--batch-seconds", 1], bound=["--max-messages", 30], feed=hello),
    "simple_sparkstream netcat": Part(
        ["day1/simple_sparkstream/run.sh", "netcat", "--socket", "127.0.0.1:{port}"],
        r"^Batch .*: \d+ words", r"^Batch \d", 1, check_netcat,
        bound=["--max-messages", 15], feed=netcat_line, rate=10),
    "stateful_wordcount dstream": Part(
        ["day2/stateful_wordcount/run.sh", "dstream"],
        r"^--- batch 2 ", r"^--- batch", 1, check_stateful_dstream, bound=["--batches", 3]),
    "windowed_sum dstream": Part(
        ["day2/windowed_sum/run.sh", "dstream"],
        r"^\('lastTwoSum', 3\)", r"^Time: ", 1, check_windowed_dstream, bound=["--count", 3]),
    "trendy_prices dstream": Part(
        ["day2/trendy_prices/run.sh", "dstream", "--topic", "{topic}", "--group", "g-{topic}", "--json",
         "--plot", "{tmp}/plot.png"],
        r"^batch +\d+ ", r"^batch +\d+ ", 5, check_trendy_dstream,
        quick=["--batch-seconds", 2, "--iterations", 3], bound=["--max-messages", 10], feed=trendy, rate=5),
}
STRUCTURED_PARTS = {  # Structured Streaming, on Kafka
    "simple_structuredstreaming": Part(
        ["day2/simple_structuredstreaming/run.sh", "--topic", "{topic}", "--checkpoint", "{tmp}/ckpt"],
        r"^Batch: \d+", r"^Batch: \d+", 0, check_structured_word_count,
        bound=["--max-messages", 40], feed=hello),
    "stateful_wordcount structured": Part(
        ["day2/stateful_wordcount/run.sh", "structured", "--topic", "{topic}"],
        r"^--- batch \d+:", r"^--- batch", 0, check_stateful_structured,
        bound=["--max-messages", 20], feed=hamlet_line, rate=10),
    "windowed_sum events": Part(
        ["day2/windowed_sum/run.sh", "events", "--topic", "{topic}", "--starting-offsets", "earliest",
         "--demo-late"],
        r"^--- batch \d+: windows updated", r"^--- batch \d", 0, check_windowed_events,
        bound=["--max-messages", 40], feed=hello),
    "trendy_prices structured": Part(
        ["day2/trendy_prices/run.sh", "structured", "--topic", "{topic}", "--starting-offsets", "earliest",
         "--json", "--plot", "{tmp}/plot.png"],
        r"^batch +\d+ ", r"^batch +\d+ ", 5, check_trendy,
        quick=["--trigger", 0], bound=["--max-messages", 10], feed=trendy, rate=5),
    "twitter_cluster predict": Part(
        ["day2/twitter_cluster/run.sh", "predict", "--topic", "{topic}", "--model", "{model}"],
        r"^-- batch \d+: [1-9]", r"^-- batch \d+: ", 2, check_predict,
        quick=["--trigger", 0], bound=["--max-messages", 30], feed=tweet),
    "twitter_cluster streaming-kmeans": Part(
        ["day2/twitter_cluster/run.sh", "streaming-kmeans", "--topic", "{topic}", "--k", 3],
        r"^BATCH ", r"^BATCH ", 2, check_streaming_kmeans,
        quick=["--trigger", 0], bound=["--max-messages", 30], feed=tweet),
}
PARTS = {**DSTREAM_PARTS, **STRUCTURED_PARTS}


def new_topic_name(name):
    topic = f"test-live-{re.sub(r'[^a-z]+', '-', name)}-{os.urandom(4).hex()}"
    admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVER)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    return topic


def train_model(folder):
    """A k-means model of two languages for twitter_cluster predict (one k-means run)."""
    path = Path(folder) / "model"
    proc = subprocess.run(["bash", "day2/twitter_cluster/run.sh", "train", "--model", str(path),
                           "--runs", "1", "--languages", "en,es"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "SPARK_UI": "off"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return path


def live_run(name, stop, tmp, model=None, quick=True, wait_after_ready=1.0):
    """Run a part fed live and stop it ("bound" or "sigint"). Returns the output, the
    exit code, the seconds from Ctrl-C to the exit, and the Run its check needs (then
    delete_topic(run.topic))."""
    part = PARTS[name]
    run = Run(stop, tmp=Path(tmp), bounded_by=part.bound[1] if stop == "bound" else 1)
    run.topic = new_topic_name(name) if part.feed not in (None, netcat_line) else None
    run.feed = (NetcatFeed(part.feed, part.rate) if part.feed is netcat_line
                else Feed(run.topic, part.feed, part.rate) if part.feed else None)
    fill = {"topic": run.topic, "tmp": tmp, "model": model,
            "port": run.feed.port if isinstance(run.feed, NetcatFeed) else None}
    args = [str(a).format(**fill) for a in part.run] + (part.quick if quick else []) \
        + (part.bound if stop == "bound" else [])
    if run.feed is None:
        output, rc, took = run_live(args, part.ready, stop, wait_after_ready=wait_after_ready)
    else:
        with run.feed:
            output, rc, took = run_live(args, part.ready, stop, wait_after_ready=wait_after_ready)
    return output, rc, took, run


def delete_topic(topic):
    if topic:
        admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVER)
        admin.delete_topics([topic])
        admin.close()


def assert_quiet_stop(output, rc, stop, batch_line):
    """Exit 0, one stop, no noise, and no batch printed after the stop's summary line."""
    where = NOISE.search(output)
    # a deep recursion repeats a few frames: its distinct ones say where it started
    trace = output[where.end():] if where else ""
    frames = list(dict.fromkeys(re.findall(r"^\s*at .*$", trace, re.MULTILINE)))
    assert not where, (f"{where[0]!r} in the output:\n{output[max(0, where.start() - 1500):][:4000]}"
                       + "\n... its distinct frames:\n" + "\n".join(frames[:60]))
    assert rc == 0, f"exit {rc}:\n{output[-3000:]}"
    said = r"Ctrl-C: stopping gracefully" if stop == "sigint" else r"(?:reached|is processed): stopping"
    assert len(re.findall(said, output)) == 1, output[-3000:]
    summary = STOP_SUMMARY.search(output)
    assert summary, f"no line on how long the batches took:\n{output[-3000:]}"
    assert not re.search(batch_line, output[summary.end():], re.MULTILINE), \
        f"a batch after the summary:\n{output[-3000:]}"
    final(output)  # exactly one FINAL line


@pytest.mark.parametrize("stop", ["bound", "sigint"])
@pytest.mark.parametrize("name", DSTREAM_PARTS)
def test_a_live_dstream_stop_is_quiet_and_counts_each_message_once(name, stop, tmp_path):
    output, rc, _, run = live_run(name, stop, tmp_path)
    try:
        assert_quiet_stop(output, rc, stop, PARTS[name].batch)
        PARTS[name].check(final(output), output, run)
    finally:
        delete_topic(run.topic)


def processes_with(marker):
    """The pids of the processes whose environment holds `marker` (Linux /proc)."""
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes():
                pids.append(int(environ.parent.name))
        except OSError:  # gone meanwhile, or not ours
            pass
    return pids


@pytest.mark.parametrize("part", ["train", "predict"])
def test_ctrl_c_before_the_stream_starts_exits_at_once_and_quietly(part, tmp_path, monkeypatch):
    """Ctrl-C after Spark has started but before a stream's own Ctrl-C handler (while
    train fits its models, while predict loads its pipeline): one line, exit 130, no
    traceback (pyspark's own handler raised KeyboardInterrupt inside a call into the
    JVM), and Spark's JVM and its Python workers are gone too."""
    args = ["day2/twitter_cluster/run.sh", part, "--model", tmp_path / "model", "--runs", "1"]
    if part == "predict":
        args = ["day2/twitter_cluster/run.sh", part, "--model", train_model(tmp_path),
                "--topic", "tweets-ctrl-c-test"]  # never read: Ctrl-C comes first
    marker = f"COURSE_TEST_RUN=ctrl-c-{os.urandom(4).hex()}"
    monkeypatch.setenv(*marker.split("="))  # run_live's processes and theirs inherit it
    output, rc, _ = run_live(args, r"^Spark UI", "sigint", wait_after_ready=0.3)
    assert rc == 130, f"exit {rc}:\n{output[-3000:]}"
    assert "Ctrl-C: exiting (no stream had started: nothing to stop gracefully)." in output, output[-3000:]
    assert not NOISE.search(output), output[-3000:]
    deadline = time.monotonic() + 15
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not processes_with(marker), "Spark's JVM or a Python worker outlived the script"
