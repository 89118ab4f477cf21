"""advanced/kafka_cluster and bash infra/kafka.sh cluster: three KRaft brokers on this
machine; the leader of a partition is killed with kill -9 while an idempotent
acks=all producer writes and a consumer group reads, and nothing is lost or read twice.

The cluster's ports (19192-19194, 19292-19294) are not the single broker's: these
tests leave the broker on KAFKA_SERVER alone. A cluster these tests start, they stop.
"""

import json
import subprocess

import pytest

from conftest import ROOT, assert_clean_output, assert_start_names_a_taken_port, cluster_up, run_exercise


def cluster(*args, timeout=240):
    proc = subprocess.run(["bash", str(ROOT / "infra/kafka.sh"), "cluster", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    proc.output = proc.stdout + proc.stderr
    return proc


def running():
    return cluster("running").returncode == 0


@pytest.fixture(scope="module")
def three_brokers():
    """The cluster, started for these tests (and stopped after them) unless it runs."""
    with cluster_up(cluster, running) as started:
        yield started


def test_a_taken_port_is_named_and_nothing_starts():
    if running():
        pytest.skip("the cluster is running: its ports are taken by itself")
    assert_start_names_a_taken_port(cluster, running, 19293, "broker 2")


@pytest.mark.slow
def test_start_twice_says_already_running_and_status_shows_the_quorum(three_brokers):
    again = cluster("start")
    assert again.returncode == 0, again.output
    assert "already running: broker 1 (pid" in again.stderr, again.output
    assert "localhost:19192,localhost:19193,localhost:19194" in again.stderr
    status = cluster("status", timeout=120)
    assert status.returncode == 0, status.output
    for n, port in ((1, 19192), (2, 19193), (3, 19194)):
        assert f"broker {n}  localhost:{port}  answers" in status.stdout, status.output
    assert "LeaderId:" in status.stdout and '"id": 3' in status.stdout, status.output  # the 3 voters


@pytest.mark.slow
def test_failover_loses_nothing_and_reads_nothing_twice(three_brokers):
    proc = run_exercise("advanced/kafka_cluster/run.sh", timeout=300)
    assert_clean_output(proc.output)
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT "), proc.output[-3000:]
    result = json.loads(last[len("RESULT "):])
    assert result["sent"] >= 300, result
    assert result["acked"] == result["sent"], result
    assert result["read"] == result["acked"], result
    assert result["lost"] == 0 and result["duplicated"] == 0, result
    assert result["leader_changed"] is True, result
    assert "kill -9: no clean shutdown" in proc.output and "during: leader" in proc.output
    assert "kafka-python's log (counted, not shown)" in proc.stdout
    assert running(), "the cluster broker the scenario killed is back"
