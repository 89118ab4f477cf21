"""Shared fixtures: a real Kafka broker, unique topics, and running exercises the
way a student does (bash dayN/<exercise>/run.sh ...).

The broker is the one on KAFKA_SERVER (default localhost:9092) if it answers;
otherwise the course's local broker is started (bash infra/kafka.sh start).
Nothing here mocks Kafka or Spark.
"""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SERVER = os.environ.get("KAFKA_SERVER", "localhost:9092")

# A Java stack trace line ("\tat org.apache...(File.java:12)"), a Python traceback,
# or Spark's complaint about a Python worker: none belongs in a normal run's output.
_JAVA_FRAME = re.compile(r"^\s+at [\w$.<>]+\(.*\)\s*$", re.MULTILINE)
_BAD_OUTPUT = ("Traceback (most recent call last)", "Python worker exited unexpectedly")


def around(text, index, before=1500, after=2500):
    """The output around a bad line: the start of a trace (its exception and the lines
    before it, which say what the run was doing), not only the end of the output."""
    start = text.rfind("\n", 0, max(0, index - before)) + 1
    return (f"[... {start} characters]\n" if start else "") + text[start:index + after] + \
        (f"\n[... {len(text) - index - after} more characters]" if index + after < len(text) else "")


def assert_clean_output(text):
    """A normal run prints no Java stack trace, no Python traceback."""
    frame = _JAVA_FRAME.search(text)
    assert not frame, f"Java stack trace in output:\n{around(text, frame.start())}"
    for bad in _BAD_OUTPUT:
        assert bad not in text, f"{bad!r} in output:\n{around(text, text.index(bad))}"


@contextlib.contextmanager
def cluster_up(cluster, running):
    """A local cluster (infra/kafka.sh or infra/spark.sh `cluster ...`, through the
    test's cluster() and running()) for a module's tests: started, and stopped after
    them unless it was running before."""
    was_running = running()
    started = cluster("start")
    assert started.returncode == 0, started.output[-3000:]
    yield started
    if not was_running:
        stopped = cluster("stop", timeout=60)
        assert stopped.returncode == 0 and not running(), stopped.output


def assert_start_names_a_taken_port(cluster, running, port, what):
    """`cluster start` while this test listens on `port`: one line that names the
    port, what it is for and who holds it (this test), exit 1, nothing started."""
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        proc = cluster("start", timeout=60)
    assert proc.returncode == 1, proc.output
    assert proc.stderr.startswith(f"error: port {port} ({what}) is already taken by "), proc.output
    assert len(proc.stderr.strip().splitlines()) == 1, proc.output
    if shutil.which("ss") or shutil.which("lsof"):
        assert f"(pid {os.getpid()})" in proc.stderr, proc.output  # by whom: this test
    assert not running(), f"the cluster started although port {port} was taken"


def run_exercise(script, *args, timeout=180, env=None, check=True, input=None):
    """Run an exercise's run.sh (or any script under the repo) as a student would,
    from the repository's top folder. Returns the CompletedProcess; .output holds
    stdout and stderr together."""
    # SPARK_UI=off: no Spark web UI in the tests (a student's run shows its address).
    full_env = {**os.environ, "KAFKA_SERVER": KAFKA_SERVER, "SPARK_UI": "off", **(env or {})}
    proc = subprocess.run(
        ["bash", str(ROOT / script), *map(str, args)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    proc.output = proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.output[-4000:]}"
    return proc


def final(output):
    """The FINAL {...} line that ends a bounded run (exactly one), parsed."""
    found = [line[len("FINAL "):] for line in output.splitlines() if line.startswith("FINAL ")]
    assert len(found) == 1, f"expected one FINAL line:\n{output[-3000:]}"
    return json.loads(found[0])


MALFORMED = re.compile(r"^skipped malformed message at (\S+)/(\d+)/(\d+)", re.MULTILINE)


def malformed_reported(output):
    """The (topic, partition, offset) of every malformed message a run reported."""
    return [(t, int(p), int(o)) for t, p, o in MALFORMED.findall(output)]


def json_lines(text):
    """The lines of text that are JSON objects, parsed."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return found


def read_topic(topic, n, timeout=20):
    """The first n message values of partition 0 of topic, JSON-parsed, read straight
    from the broker (no consumer group): what a script really sent."""
    consumer = KafkaConsumer(bootstrap_servers=KAFKA_SERVER, enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    values, deadline = [], time.monotonic() + timeout
    while len(values) < n and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values += [r.value for r in records]
    consumer.close()
    return [json.loads(value) for value in values[:n]]


@pytest.fixture(scope="session")
def kafka_server():
    """The address of a Kafka broker that answers (started if need be)."""
    ready = [sys.executable, str(ROOT / "infra/python/broker_ready.py")]
    if subprocess.run(ready, env={**os.environ, "KAFKA_SERVER": KAFKA_SERVER}).returncode != 0:
        subprocess.run(["bash", str(ROOT / "infra/kafka.sh"), "start"], check=True)
    return KAFKA_SERVER


@pytest.fixture
def new_topic(kafka_server, request):
    """new_topic(partitions=1) -> the name of a fresh topic, unique to this test."""
    admin = KafkaAdminClient(bootstrap_servers=kafka_server)
    made = []

    def make(partitions=1):
        stem = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:40].strip("-")
        name = f"test-{stem}-{uuid.uuid4().hex[:8]}"
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        made.append(name)
        return name

    yield make
    try:
        admin.delete_topics(made)
    finally:
        admin.close()


@pytest.fixture
def produce(kafka_server):
    """produce(topic, values, keys=None): send values (dicts become JSON, str and
    bytes are sent as they are), flush, and return their (partition, offset)s."""
    producer = KafkaProducer(bootstrap_servers=kafka_server)

    def send(topic, values, keys=None):
        futures = []
        for i, value in enumerate(values):
            if isinstance(value, dict):
                value = json.dumps(value)
            if isinstance(value, str):
                value = value.encode("utf-8")
            key = keys[i].encode("utf-8") if keys else None
            futures.append(producer.send(topic, value=value, key=key))
        producer.flush()
        return [(m.partition, m.offset) for m in (f.get(timeout=10) for f in futures)]

    yield send
    producer.close()


def read_records(topic, timeout=30):
    """Every record of a topic, from its beginning to its end as it is now, as
    (key, value) pairs, the value JSON-parsed (a job's output topic, once it is done)."""
    consumer = KafkaConsumer(bootstrap_servers=KAFKA_SERVER, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    assert partitions, f"no topic {topic}"
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    ends, records = consumer.end_offsets(partitions), []
    deadline = time.monotonic() + timeout
    while any(consumer.position(tp) < ends[tp] for tp in partitions) and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records += [(r.key.decode() if r.key is not None else None, json.loads(r.value)) for r in batch]
    consumer.close()
    return records


def delete_topics(*topics):
    admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVER)
    try:
        admin.delete_topics(list(topics))
    except Exception:  # already gone, or never made
        pass
    finally:
        admin.close()
