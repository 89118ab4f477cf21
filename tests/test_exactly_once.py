"""advanced/exactly_once: a Spark job from Kafka to a sink, killed with kill -9 after
its first micro-batch is written but before Spark records it as done, restarted from
its checkpoint. Spark's Kafka sink then holds duplicates; the idempotent (SQLite
upserts) and transactional (Kafka transactions, read_committed) sinks do not.

Real broker, real Spark, real kill -9. Each run of the scenario makes its own topics
and checkpoint folder and deletes them."""

import json
import os
import re
import signal
import subprocess
import time

import pytest
from kafka import KafkaAdminClient

from conftest import KAFKA_SERVER, ROOT, assert_clean_output, run_exercise

RUN = "advanced/exactly_once/run.sh"
CHECKPOINTS = ROOT / "advanced/exactly_once/checkpoints"


def result(output):
    """The RESULT {...} line, which must be the last line of stdout."""
    last = output.strip().splitlines()[-1]
    assert last.startswith("RESULT "), output[-3000:]
    return json.loads(last[len("RESULT "):])


def run_id(output):
    return re.search(r"sent \d+ messages to exactly-once-(\d{6}-[0-9a-f]{4}):", output).group(1)


def left_behind(run):
    """Processes of this run (a job's command line names its topic), and its traces."""
    ps = subprocess.run(["ps", "-A", "-o", "pid=,args="], capture_output=True, text=True).stdout
    procs = [line for line in ps.splitlines() if f"exactly-once-{run}" in line]
    admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVER)
    topics = [t for t in admin.list_topics() if t.startswith(f"exactly-once-{run}")]
    admin.close()
    return procs, topics, (CHECKPOINTS / run).exists()


def killed(output):
    """The processes the scenario says it killed: "kill -9 python 12, java 34, ...: ..."."""
    lists = re.findall(r"kill -9 ((?:\S+ \d+(?:, )?)+)", output)
    return [int(pid) for found in lists for pid in re.findall(r"\S+ (\d+)", found)]


def live(pids):
    ps = subprocess.run(["ps", "-A", "-o", "pid=,stat="], capture_output=True, text=True).stdout
    running = {int(p) for p, stat in (line.split() for line in ps.splitlines()) if stat[0] != "Z"}
    return sorted(set(pids) & running)


def assert_nothing_left(output):
    """No process of the run (not the jobs, nor the JVMs and Python workers it killed),
    no topic, no checkpoint folder."""
    run, pids = run_id(output), killed(output)
    assert pids, output
    for _ in range(20):  # deleted topics can linger in the metadata for a moment
        procs, topics, folder = left_behind(run)
        if not (procs or topics or folder or live(pids)):
            return
        time.sleep(0.5)
    assert not procs, f"processes of run {run} still running:\n" + "\n".join(procs)
    assert not live(pids), f"killed, yet still running: {live(pids)}"
    assert not topics and not folder, (topics, folder)


@pytest.mark.slow
def test_three_acts_kafka_sink_duplicates_idempotent_and_transactional_do_not(kafka_server):
    proc = run_exercise(RUN, timeout=900)
    assert_clean_output(proc.output)
    got = result(proc.stdout)
    assert got["sent"] == 100
    # Act 1: partition 0's half of the batch was written before the kill, and again by
    # the replay: exactly those 50 are duplicates, nothing is missing.
    assert got["naive_duplicates"] == 50, got
    assert got["naive_records"] == 150 and got["naive_missing"] == 0, got
    # Acts 2 and 3: the same kill, the same replay, each message once.
    assert got["idempotent_records"] == 100 and got["idempotent_duplicates"] == 0, got
    assert got["idempotent_missing"] == 0, got
    assert got["transactional_records"] == 100 and got["transactional_duplicates"] == 0, got
    assert got["transactional_missing"] == 0 and got["transactional_in_log"] == 100, got
    # Each act really replayed its batch (0 duplicates is not "nothing happened"):
    out = proc.stdout
    assert out.count("kill -9 python ") == 3, out
    assert len(re.findall(r"offsets/0 and commits/\(none\)", out)) == 3, out
    assert len(re.findall(r"run 2 \| batch 0: 100 messages upserted; the table holds 100 rows", out)) == 1
    assert re.search(r"run 2 \| batch 0: its 100 messages were committed by an earlier run \(batch 0\)", out)
    assert "stalling: the task of input partition 1 hangs" in out
    assert "java " in out.split("kill -9 python ")[1].splitlines()[0]  # the JVM was killed too
    assert_nothing_left(proc.output)


@pytest.mark.slow
def test_solution_kill_before_commit_aborts_the_open_transaction(kafka_server):
    proc = run_exercise(RUN, "solutions/kill_before_commit.py", timeout=600)
    assert_clean_output(proc.output)
    got = result(proc.stdout)
    assert "naive_duplicates" not in got and "idempotent_records" not in got  # act 3 only
    assert got["transactional_records"] == 100 and got["transactional_duplicates"] == 0, got
    assert got["transactional_missing"] == 0, got
    # The log holds the batch twice: run 1's aborted transaction, run 2's committed one.
    assert got["transactional_in_log"] == 200, got
    assert "stalling: batch 0's 100 messages are sent, its transaction is still open" in proc.stdout
    assert "run 2 | batch 0: 100 messages committed to" in proc.stdout
    assert_nothing_left(proc.output)


@pytest.mark.slow
def test_ctrl_c_mid_act_kills_the_job_and_cleans_up(kafka_server):
    proc = subprocess.Popen(["bash", str(ROOT / RUN), "idempotent"], cwd=ROOT, text=True,
                            env={**os.environ, "KAFKA_SERVER": KAFKA_SERVER, "SPARK_UI": "off"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    lines = []
    for line in proc.stdout:  # until the Spark job runs (its JVM is up)
        lines.append(line)
        if "run 1 | Upserting" in line:
            break
    else:
        pytest.fail("".join(lines))
    proc.send_signal(signal.SIGINT)  # run.sh exec'd python: this reaches the scenario
    out = "".join(lines) + proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, out
    assert_clean_output(out)
    assert "Ctrl-C: stopping the scenario" in out and "stopped the Spark job (kill -9 python " in out, out
    assert "RESULT" not in out
    assert_nothing_left(out)


def test_no_broker_one_line_within_10_s():
    # An address of this machine where nothing listens, that run.sh does not take for the
    # course's local broker: the scenario itself must say that no broker answers.
    start = time.monotonic()
    proc = run_exercise(RUN, env={"KAFKA_SERVER": "127.0.0.2:1"}, check=False, timeout=60)
    assert time.monotonic() - start < 10, proc.output
    assert proc.returncode == 1, proc.output
    errors = [line for line in proc.output.splitlines() if line.startswith("error:")]
    assert errors == ["error: no Kafka broker answers on 127.0.0.2:1. "
                      "Start one: bash infra/kafka.sh start (or docker compose up -d kafka)"], proc.output
    assert "Traceback" not in proc.output
