"""advanced/latency_lab: producers' throughput, and the latency of five pipelines from
producer to consumer, measured in one run on a real broker with real Spark.

The tests run short versions (--quick) and check behaviour, not speed: every message
measured exactly once per pipeline, the RESULT line complete, the plots written, and
the one order that is physics rather than noise: a consumer of the input topic itself
sees a message before any Spark pipeline has copied it."""

import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest
from kafka import KafkaAdminClient

from conftest import KAFKA_SERVER, ROOT, assert_clean_output, run_exercise

RUN = "advanced/latency_lab/run.sh"
SPARK_PIPELINES = ["trigger-0", "trigger-1s", "real-time", "dstream"]
QUICK_RATES = {"100": 300, "1000": 3000}  # --quick: 3 s at each rate


def result(output):
    """The RESULT {...} line, which must be the last line of stdout."""
    last = output.strip().splitlines()[-1]
    assert last.startswith("RESULT "), output[-3000:]
    return json.loads(last[len("RESULT "):])


def stem(output):
    """The run's topic prefix, latency-lab-<time>-<id>."""
    return re.search(r"latency-lab-\d{6}-[0-9a-f]{4}", output).group(0)


def left_behind(prefix):
    """Processes whose command line names the run's topics, and its topics."""
    ps = subprocess.run(["ps", "-A", "-o", "pid=,args="], capture_output=True, text=True).stdout
    procs = [line for line in ps.splitlines() if prefix in line]
    admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVER)
    topics = [t for t in admin.list_topics() if t.startswith(prefix)]
    admin.close()
    return procs, topics


def assert_nothing_left(prefix):
    for _ in range(20):  # deleted topics can linger in the metadata for a moment
        procs, topics = left_behind(prefix)
        if not procs and not topics:
            return
        time.sleep(0.5)
    assert not procs and not topics, (procs, topics)


def assert_exactly_once(pipeline, rates=QUICK_RATES):
    """Every message sent, warm-up included, arrived once; each rate measured all of its own."""
    assert pipeline["lost"] == 0 and pipeline["duplicated"] == 0, pipeline
    assert {rate: r["count"] for rate, r in pipeline["rates"].items()} == rates, pipeline
    assert pipeline["warmup"] > 0 and pipeline["sent"] == pipeline["warmup"] + sum(rates.values()), pipeline
    for r in pipeline["rates"].values():
        assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"], r


def assert_plots(paths, started):
    for path in paths:
        png = ROOT / path
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
        assert png.stat().st_mtime >= started, f"{path} was not written by this run"


def test_producers_three_clients_acks_and_batching(kafka_server):
    started = time.time()
    proc = run_exercise(RUN, "producers", "--records", "1000", timeout=300)
    assert_clean_output(proc.output)
    got = result(proc.stdout)
    rows = got["producers"]
    clients = {r["client"].split()[0] for r in rows}
    assert clients == {"kafka-python", "confluent-kafka", "kafka-producer-perf-test"}, rows
    configs = {(r["acks"], r["batching"]) for r in rows}
    assert len(configs) == 4 and len(rows) == 12, rows  # acks 1 and all, with and without batching
    for r in rows:  # the same records for every client: 1000 batched, a tenth without batching
        assert r["records"] == (1000 if r["batching"].startswith("linger") else 100), r
        assert r["records_per_s"] > 0 and r["mib_per_s"] >= 0, r
        # the wall time includes the send time; rounded to 0.01 s and 0.001 s, it may look 0.0055 s less
        assert r["wall_seconds"] + 0.006 >= r["seconds"] > 0, r
    assert "pipelines" not in got and got["plots"] == ["advanced/latency_lab/output/producers.png"]
    assert_plots(got["plots"], started)
    assert "client" in proc.stdout and "records/s" in proc.stdout  # the table
    assert_nothing_left(stem(proc.output))


def test_direct_pipeline_measures_every_message_once(kafka_server):
    started = time.time()
    proc = run_exercise(RUN, "pipelines", "--quick", "--pipelines", "direct", timeout=180)
    assert_clean_output(proc.output)
    got = result(proc.stdout)
    assert list(got["pipelines"]) == ["direct"]
    assert_exactly_once(got["pipelines"]["direct"])
    assert sorted(got["plots"]) == ["advanced/latency_lab/output/latency_cdf.png",
                                    "advanced/latency_lab/output/latency_vs_rate.png"]
    assert_plots(got["plots"], started)
    assert_nothing_left(stem(proc.output))


def test_solution_python_copy_is_measured_beside_the_floor(kafka_server):
    proc = run_exercise(RUN, "solutions/python_copy.py", "--quick", timeout=240)
    assert_clean_output(proc.output)
    got = result(proc.stdout)["pipelines"]
    assert list(got) == ["direct", "python_copy"], got
    for pipeline in got.values():
        assert_exactly_once(pipeline)
    assert "python_copy | FINAL" in proc.stdout  # the copy stopped on the lab's Ctrl-C and said so
    assert_nothing_left(stem(proc.output))


@pytest.mark.slow
def test_every_pipeline_exactly_once_and_direct_is_fastest(kafka_server):
    started = time.time()
    proc = run_exercise(RUN, "--quick", timeout=900)
    assert_clean_output(proc.output)
    got = result(proc.stdout)
    assert set(got) == {"machine", "producers", "pipelines", "plots"}, got.keys()
    assert got["machine"]["cores"] == os.cpu_count()
    assert list(got["pipelines"]) == ["direct", *SPARK_PIPELINES]
    for pipeline in got["pipelines"].values():
        assert_exactly_once(pipeline)
    # Physics, not noise: the direct consumer reads the very topic the others copy from.
    for rate in QUICK_RATES:
        direct = got["pipelines"]["direct"]["rates"][rate]["p50_ms"]
        for name in SPARK_PIPELINES:
            assert direct < got["pipelines"][name]["rates"][rate]["p50_ms"], (rate, name, got["pipelines"])
    assert len(got["plots"]) == 3
    assert_plots(got["plots"], started)
    assert_nothing_left(stem(proc.output))


@pytest.mark.slow
def test_solution_batch_anatomy_reports_where_a_micro_batch_spends_its_time(kafka_server):
    proc = run_exercise(RUN, "solutions/batch_anatomy.py", "--quick", timeout=400)
    assert_clean_output(proc.output)
    got = result(proc.stdout)["pipelines"]
    assert list(got) == ["direct", "batch_anatomy"], got
    assert_exactly_once(got["batch_anatomy"])
    for phase in ("latestOffset", "walCommit", "queryPlanning", "addBatch", "commitOffsets",
                  "triggerExecution"):
        assert f"batch_anatomy | {phase}" in proc.stdout, proc.stdout[-3000:]
    assert_nothing_left(stem(proc.output))


@pytest.mark.slow
def test_real_time_mode_with_fewer_cores_than_partitions_says_so_in_one_line(kafka_server):
    proc = run_exercise(RUN, "pipelines", "--quick", "--pipelines", "real-time", "--partitions", "2",
                        env={"SPARK_MASTER": "local[1]"}, check=False, timeout=240)
    assert proc.returncode == 1, proc.output
    errors = [line for line in proc.output.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: Real-Time Mode needs one core per input partition: topic "
        f"'{stem(proc.output)}-real-time-in' has 2 partitions, SPARK_MASTER=local[1] gives 1. "
        "Fix: SPARK_MASTER=local[2] (or fewer partitions)"], proc.output
    assert_clean_output(proc.output)
    assert "RESULT" not in proc.stdout
    assert_nothing_left(stem(proc.output))


@pytest.mark.slow
def test_ctrl_c_stops_the_job_and_cleans_up(kafka_server):
    proc = subprocess.Popen(["bash", str(ROOT / RUN), "pipelines", "--pipelines", "real-time"], cwd=ROOT,
                            text=True, env={**os.environ, "KAFKA_SERVER": KAFKA_SERVER, "SPARK_UI": "off"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    lines = []
    for line in proc.stdout:  # until the Spark job runs
        lines.append(line)
        if "real-time | ready:" in line:
            break
    else:
        pytest.fail("".join(lines))
    time.sleep(2)  # the warm-up is under way
    proc.send_signal(signal.SIGINT)  # run.sh exec'd python: this reaches the lab
    out = "".join(lines) + proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, out
    assert_clean_output(out)
    assert "Ctrl-C: the lab stops" in out and "RESULT" not in out, out
    assert_nothing_left(stem(out))


def test_spark_ui_port_taken_one_line(kafka_server):
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            squatter.bind(("127.0.0.1", 4040))
            squatter.listen()
            ours = True
        except OSError:  # another program holds it already: the lab must name that one
            ours = False
        proc = run_exercise(RUN, "pipelines", env={"SPARK_UI": "on"}, check=False, timeout=60)
    assert proc.returncode == 1, proc.output
    assert proc.stderr.startswith("error: port 4040 (the Spark UI of the lab's pipelines) is already "
                                  "taken by "), proc.output
    assert len(proc.stderr.strip().splitlines()) == 1 and "SPARK_UI=off" in proc.stderr, proc.output
    if ours and any(os.path.exists(f"/usr/bin/{tool}") for tool in ("ss", "lsof")):
        assert f"(pid {os.getpid()})" in proc.stderr, proc.output


def test_no_broker_one_line_within_10_s():
    # An address of this machine where nothing listens, that run.sh does not take for the
    # course's local broker (for localhost it would start that broker, or name the port
    # the local broker uses): the lab itself must say that no broker answers.
    start = time.monotonic()
    proc = run_exercise(RUN, "producers", env={"KAFKA_SERVER": "127.0.0.2:1"}, check=False, timeout=60)
    assert time.monotonic() - start < 10, proc.output
    assert proc.returncode == 1, proc.output
    errors = [line for line in proc.output.splitlines() if line.startswith("error:")]
    assert errors == ["error: no Kafka broker answers on 127.0.0.2:1. "
                      "Start one: bash infra/kafka.sh start (or docker compose up -d kafka)"], proc.output
    assert "Traceback" not in proc.output
