"""advanced/spark_cluster and bash infra/spark.sh cluster: a Spark standalone master and
two workers of one core each, from pyspark's own bin/spark-class. The course's scripts
run on it unchanged (SPARK_MASTER=spark://127.0.0.1:7077) with their executors in JVMs
of their own, and a worker killed with kill -9 mid-stream costs no count.

The cluster's ports: 7077 (master), 8080 (its UI), 8081-8082 (the workers' UIs). A
cluster these tests start, they stop; one that runs already stays up.
"""

import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections import Counter

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from conftest import (
    KAFKA_SERVER,
    ROOT,
    assert_clean_output,
    assert_start_names_a_taken_port,
    cluster_up,
    final,
    run_exercise,
)

MASTER = "spark://127.0.0.1:7077"
WORK = ROOT / "infra/local/spark"
TEXTS = ["the quick brown fox", "jumps over the lazy dog", "to be or not to be", "spark on a cluster"]


def cluster(*args, timeout=240, env=None):
    proc = subprocess.run(["bash", str(ROOT / "infra/spark.sh"), "cluster", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})
    proc.output = proc.stdout + proc.stderr
    return proc


def running():
    return cluster("running").returncode == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_folders():
    """{worker: its work folder's application folders} (each holds one folder per executor)."""
    return {n: set((WORK / f"worker{n}/work").glob("app-*")) for n in (1, 2)}


def executors_of_new_apps(before):
    """The executor folders of the applications that started since `before`, per worker."""
    return {n: [e for app in folders - before[n] for e in app.iterdir() if e.is_dir()]
            for n, folders in app_folders().items()}


def assert_executors_in_own_jvms(before):
    """Each worker ran an executor of the run: a JVM of its own (its command line heads its
    stderr), which fetched Spark's Kafka connector from the driver when asked to."""
    for n, executors in executors_of_new_apps(before).items():
        assert executors, f"worker {n} ran no executor for this run"
        command = (executors[0] / "stderr").read_text(errors="replace").split("=" * 40)[0]
        assert "org.apache.spark.executor.CoarseGrainedExecutorBackend" in command, command
        assert "--driver-url" in command and "--hostname 127.0.0.1" in command.replace('"', ""), command


def read_all(topic, partitions=2, timeout=30):
    """The msg texts of every message of a topic, straight from the broker."""
    consumer = KafkaConsumer(bootstrap_servers=KAFKA_SERVER, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    ends = consumer.end_offsets(parts)
    values, deadline = [], time.monotonic() + timeout
    while any(consumer.position(p) < ends[p] for p in parts) and time.monotonic() < deadline:
        values += [r.value for records in consumer.poll(timeout_ms=500).values() for r in records]
    consumer.close()
    return [json.loads(v)["msg"] for v in values]


def delete_topic(topic):
    admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVER)
    try:
        admin.delete_topics([topic])
    finally:
        admin.close()


def result(proc):
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT "), proc.output[-4000:]
    return json.loads(last[len("RESULT "):])


@pytest.fixture(scope="module")
def spark_cluster():
    """The cluster, started for these tests (and stopped after them) unless it runs."""
    with cluster_up(cluster, running):
        yield MASTER


def test_a_taken_port_is_named_and_nothing_starts():
    if running():
        pytest.skip("the cluster is running: its ports are taken by itself")
    assert_start_names_a_taken_port(cluster, running, 8082, "worker 2's web UI")


def test_start_refuses_java_that_is_too_old(tmp_path):
    if running():
        pytest.skip("the cluster is running: start has nothing to do")
    java = tmp_path / "jdk/bin/java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    java.chmod(0o755)
    proc = cluster("start", timeout=30, env={"JAVA_HOME": str(tmp_path / "jdk")})
    assert proc.returncode == 1 and proc.stderr.startswith("error: Java 11 is too old"), proc.output
    assert not running()


def test_no_master_is_one_line_within_seconds(kafka_server):
    master = f"spark://127.0.0.1:{free_port()}"
    start = time.monotonic()
    proc = run_exercise("day2/simple_structuredstreaming/run.sh", "--topic", "test-topic", "--seconds", 5,
                        env={"SPARK_MASTER": master}, check=False, timeout=60)
    assert proc.returncode == 1 and time.monotonic() - start < 20, proc.output[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: no Spark master answers on {master} (SPARK_MASTER). Fix: start the course's cluster, "
        "bash infra/spark.sh cluster start, or unset SPARK_MASTER (local[*])"), proc.output[-3000:]
    assert_clean_output(proc.output)


@pytest.mark.slow
def test_start_twice_says_already_running_and_status_shows_the_workers(spark_cluster):
    again = cluster("start")
    assert again.returncode == 0, again.output
    assert "already running: master (pid" in again.stderr and "worker 2 (pid" in again.stderr, again.output
    status = cluster("status")
    assert status.returncode == 0, status.output
    assert f"master    {MASTER}  UI http://localhost:8080  answers" in status.stdout, status.output
    for n in (1, 2):
        assert re.search(rf"^worker {n}  UI http://localhost:808{n}  ALIVE: \d of 1 cores", status.stdout,
                         re.MULTILINE), status.output
    assert cluster("master").stdout.strip() == MASTER


@pytest.mark.slow
def test_structured_wordcount_runs_unchanged_on_the_cluster(spark_cluster, new_topic, produce, tmp_path):
    topic = new_topic(partitions=2)  # a task per partition: work for both executors
    texts = TEXTS * 10
    produce(topic, [{"time": 1, "msg": text} for text in texts] + ["not JSON"])
    before = app_folders()
    proc = run_exercise("day2/simple_structuredstreaming/run.sh", "--topic", topic, "--max-messages",
                        len(texts) + 1, "--checkpoint", tmp_path / "checkpoint",
                        env={"SPARK_MASTER": spark_cluster}, timeout=300)
    assert_clean_output(proc.output)
    summary = final(proc.stdout)
    assert summary["words"] == dict(Counter(w for t in texts for w in t.lower().split()))
    assert summary["messages"] == len(texts) + 1 and summary["malformed"] == 1
    assert_executors_in_own_jvms(before)
    for executor in [e for es in executors_of_new_apps(before).values() for e in es]:
        # spark.jars: the driver served the connector, each executor fetched it (its work folder)
        assert (executor / "spark-sql-kafka-0-10_2.13-4.2.0.jar").is_file(), sorted(executor.iterdir())


@pytest.mark.slow
def test_dstream_wordcount_and_its_receiver_run_unchanged_on_the_cluster(spark_cluster, new_topic, produce):
    # The receiver (in an executor JVM) connects to the Kafka-to-socket bridge in the driver
    # process, at SPARK_LOCAL_IP; parse() runs in Python workers of the executors, which must
    # be the course's Python (the python3 on PATH may have no pyspark).
    topic = new_topic()
    texts = TEXTS * 10
    produce(topic, [{"time": 1, "msg": text} for text in texts])
    before = app_folders()
    proc = run_exercise("day1/simple_sparkstream/run.sh", "--topic", topic, "--group", f"g-{topic}",
                        "--batch-seconds", 2,
                        "--max-messages", len(texts), env={"SPARK_MASTER": spark_cluster}, timeout=200)
    assert_clean_output(proc.output)
    summary = final(proc.stdout)
    assert summary["words"] == dict(Counter(w for t in texts for w in t.split()))
    assert summary["messages"] == len(texts) and summary["malformed"] == 0
    assert_executors_in_own_jvms(before)


@pytest.mark.slow
def test_failover_counts_every_word_once_though_a_worker_dies(spark_cluster):
    topic = f"test-spark-cluster-{uuid.uuid4().hex[:8]}"
    try:
        proc = run_exercise("advanced/spark_cluster/run.sh", "--topic", topic, timeout=480)
        assert_clean_output(proc.output)
        found = result(proc)
        produced = read_all(topic)
        assert len(produced) == 300
        plain = dict(Counter(w for text in produced for w in text.split()))
        assert found["workers_killed"] == 1 and found["exact"] is True, found
        assert found["counted"] == found["expected"] == plain, found
    finally:
        delete_topic(topic)
    out = proc.stdout
    assert re.search(r"executors: worker 1: executor \[\d\], worker 2: executor \[\d\]", out), out
    kill = out.index("$ bash infra/spark.sh cluster kill 2")
    assert "worker 2 (pid" in proc.stderr and "executor JVM(s)" in proc.stderr
    assert re.search(r"executors: worker 1: executor \[\d\], worker 2: down", out[kill:]), out
    assert re.search(r"batch \d+: \d+ messages", out[kill:]), "no micro-batch after the kill"
    assert "Spark's driver log (counted, not shown" in out and "Lost executor" in out, out
    assert "[course] the Spark cluster is already running; it stays up at the end" in proc.stderr
    assert running(), "the worker the scenario killed is back"


@pytest.mark.slow
def test_one_executor_solution_gets_a_new_executor_from_the_master(spark_cluster):
    topic = f"test-spark-cluster-one-{uuid.uuid4().hex[:8]}"
    try:
        proc = run_exercise("advanced/spark_cluster/run.sh", "solutions/one_executor.py", "--topic", topic,
                            timeout=480)
        assert_clean_output(proc.output)
        found = result(proc)
        plain = dict(Counter(w for text in read_all(topic) for w in text.split()))
        assert found["exact"] is True and found["counted"] == plain, found
        assert found["executor_replaced"] is True and found["first_batch_after_kill_seconds"] > 0, found
    finally:
        delete_topic(topic)
    assert "a new one, starting" in proc.stdout, proc.stdout
    assert running()
