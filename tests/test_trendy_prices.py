"""day2/trendy_prices: the producer's rows follow w(t); both streaming regressions
(Structured Streaming + foreachBatch, DStream + MLlib) track the drift far better
than a model frozen after its first batch, and write a real PNG plot."""

import json
import os
import re
import signal
import subprocess
from contextlib import contextmanager

import numpy as np
import pytest

from conftest import KAFKA_SERVER, ROOT, assert_clean_output, json_lines, read_topic, run_exercise

RUN = "day2/trendy_prices/run.sh"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BAD = ["not JSON at all", {"t": 1.0, "rows": [{"x": [0.5], "known": True, "label": 1.0}]}]



@contextmanager
def producer_running(topic):
    """The producer, live and drifting fast (5 messages a second, t at twice the
    clock), until the block ends; then Ctrl-C, as a student would stop it."""
    proc = subprocess.Popen(
        ["bash", str(ROOT / RUN), "producer", "--topic", topic, "--interval", "0.2",
         "--time-scale", "2", "--seed", "7"],
        cwd=ROOT, env={**os.environ, "KAFKA_SERVER": KAFKA_SERVER},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)  # run.sh exec'd python: this reaches the producer
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-2000:]
    assert_clean_output(out)
    assert re.search(r"sent \d+ message\(s\)", out), out[-2000:]


def check_tracking(run, plot, min_batches):
    """The model learned: after warm-up its error is well below the frozen model's."""
    assert_clean_output(run.output)
    batches = [line for line in json_lines(run.stdout) if "batch" in line]
    final = json.loads(run.stdout.split("FINAL ", 1)[1].splitlines()[0])
    assert len(batches) >= min_batches, run.output[-3000:]
    assert final["batches"] == len(batches)
    scored = [b for b in batches[final["warmup"]:] if b["rmse"] is not None]
    assert len(scored) >= min_batches - final["warmup"] - 1
    mean_rmse = np.mean([b["rmse"] for b in scored])
    mean_frozen = np.mean([b["frozen_rmse"] for b in scored])
    assert final["mean_rmse"] == pytest.approx(mean_rmse)
    # It tracks the drift: clearly better than training once and stopping.
    assert mean_rmse < 0.5 * mean_frozen, (mean_rmse, mean_frozen)
    # The true weights it printed really drift, and the last learned ones follow them.
    assert np.linalg.norm(batches[-1]["true"]) > 1.05 * np.linalg.norm(batches[0]["true"])
    last = batches[-1]
    assert last["weight_error"] < 0.5 * np.linalg.norm(last["true"]), last
    # The bad messages were reported and counted, and did not stop the stream.
    assert final["bad_messages"] == len(BAD)
    assert run.output.count("warning: skipped a malformed message") == len(BAD)
    # The plot is a real PNG.
    assert final["plot"] == str(plot)
    with open(plot, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    assert plot.stat().st_size > 10_000


def test_producer_labels_follow_the_drifting_weights(kafka_server, new_topic):
    topic = new_topic()
    run = run_exercise(RUN, "producer", "--topic", topic, "--count", 4, "--interval", 0.5,
                       "--seed", 3, "--noise", 0, "--time-scale", 10)
    assert_clean_output(run.output)
    assert len(re.findall(rf"-> {topic} partition 0 offset \d", run.stdout)) == 4
    W = np.array(json.loads(re.search(r"W = (\[.*?\])", run.stdout).group(1)))
    messages = read_topic(topic, 4)
    assert len(messages) == 4
    ts = [m["t"] for m in messages]
    assert ts == sorted(ts) and ts[-1] > ts[0] + 10  # time passes, 10x faster
    for m in messages:
        w = np.array(m["true_weights"])
        assert np.allclose(w, (m["t"] + 1) * W * 0.01, atol=1e-3)  # W printed rounded
        assert len(m["rows"]) == 10
        for row in m["rows"]:
            assert len(row["x"]) == 5 and all(0 <= v < 1 for v in row["x"])
            if row["known"]:  # a number now, not a string; exact with --noise 0
                assert isinstance(row["label"], float)
                assert row["label"] == pytest.approx(float(w @ np.array(row["x"])))
            else:
                assert row["label"] is None


def test_structured_streaming_tracks_the_drift(kafka_server, new_topic, produce, tmp_path):
    topic = new_topic()
    produce(topic, BAD)
    plot = tmp_path / "structured.png"
    with producer_running(topic):
        run = run_exercise(RUN, "structured", "--topic", topic, "--from-beginning",
                           "--trigger", 1, "--batches", 10, "--seconds", 100, "--json",
                           "--plot", plot, timeout=300)
    check_tracking(run, plot, min_batches=8)


def test_dstream_mllib_tracks_the_drift(kafka_server, new_topic, produce, tmp_path):
    topic = new_topic()
    produce(topic, BAD)
    plot = tmp_path / "dstream.png"
    with producer_running(topic):
        # MLlib runs a Spark job per gradient step: fewer steps than the default 50,
        # so that a batch is done before the next is due even on a busy machine.
        run = run_exercise(RUN, "dstream", "--topic", topic, "--batch-seconds", 3,
                           "--iterations", 20, "--batches", 8, "--seconds", 100, "--json",
                           "--plot", plot, timeout=300)
    check_tracking(run, plot, min_batches=7)
    assert "forwarded" in run.stdout


def test_no_broker_one_line_before_spark_starts():
    run = run_exercise(RUN, "structured", "--seconds", 5, check=False,
                       env={"KAFKA_SERVER": "127.0.0.2:9"}, timeout=60)
    assert run.returncode != 0
    assert_clean_output(run.output)
    errors = [line for line in run.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "127.0.0.2:9" in errors[0] and "kafka.sh start" in errors[0]
    assert "SparkSession" not in run.output and "WARN" not in run.output
