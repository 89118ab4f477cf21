"""day2/trendy_prices: the producer's rows follow w(t); both streaming regressions
(Structured Streaming + foreachBatch, DStream + MLlib) and the weighted least squares
solution track the drift far better than a model frozen after its first batch, report
the malformed messages by address, and write a real PNG plot."""

import json
import os
import re
import signal
import subprocess
import uuid
from contextlib import contextmanager

import numpy as np
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from conftest import (
    KAFKA_SERVER,
    ROOT,
    assert_clean_output,
    delete_topics,
    final,
    json_lines,
    malformed_reported,
    read_records,
    run_exercise,
)

RUN = "day2/trendy_prices/run.sh"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BAD = [b"not JSON at all", b'{"t": 1.0, "rows": [{"x": [0.5], "known": true, "label": 1.0}]}']
COUNT = 40  # the producer's messages on the shared topic, after the BAD ones


def make_topic():
    name = f"test-trendy-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVER)
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    admin.close()
    return name


def send_bad(topic):
    """Send the malformed messages; their addresses."""
    producer = KafkaProducer(bootstrap_servers=KAFKA_SERVER)
    futures = [producer.send(topic, value) for value in BAD]
    producer.flush()
    producer.close()
    return [(topic, m.partition, m.offset) for m in (f.get(timeout=10) for f in futures)]


@pytest.fixture(scope="module")
def drifting(kafka_server):
    """A topic holding COUNT messages of the real producer, fast (t runs 20x faster
    than the clock), then the malformed ones: the topic, their addresses, the run."""
    topic = make_topic()
    run = run_exercise(RUN, "--topic", topic, "--count", COUNT, "--interval", 0.05,  # the default part
                       "--seed", 3, "--time-scale", 20)
    bad = send_bad(topic)
    yield topic, bad, run
    admin = KafkaAdminClient(bootstrap_servers=kafka_server)
    admin.delete_topics([topic])
    admin.close()


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
    result = final(out)
    assert result["failed"] == 0 and result["delivered"] >= 5
    assert len(re.findall(rf"^delivered to {topic}/0/\d+: ", out, re.MULTILINE)) == result["delivered"]


def first_values(topic, n):
    """The first n message values of partition 0 (read_topic would parse the BAD ones)."""
    consumer = KafkaConsumer(bootstrap_servers=KAFKA_SERVER, enable_auto_commit=False)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    values = []
    for _ in range(40):
        values += [r.value for records in consumer.poll(timeout_ms=500).values() for r in records]
        if len(values) >= n:
            break
    consumer.close()
    return values[:n]


def check_tracking(run, plot, bad, min_updates):
    """The model learned: after warm-up its error is well below the frozen model's."""
    assert_clean_output(run.output)
    batches = [line for line in json_lines(run.stdout) if "batch" in line]
    result = final(run.stdout)
    assert len(batches) >= min_updates, run.output[-3000:]
    assert result["updates"] == len(batches) and result["batches"] >= len(batches)
    scored = [b for b in batches[result["warmup"]:] if b["rmse"] is not None]
    assert len(scored) >= min_updates - result["warmup"] - 1
    mean_rmse = np.mean([b["rmse"] for b in scored])
    mean_frozen = np.mean([b["frozen_rmse"] for b in scored])
    assert result["mean_rmse"] == pytest.approx(mean_rmse)
    # It tracks the drift: clearly better than training once and stopping.
    assert mean_rmse < 0.5 * mean_frozen, (mean_rmse, mean_frozen)
    # The true weights it printed really drift, and the last learned ones follow them.
    assert np.linalg.norm(batches[-1]["true"]) > 1.05 * np.linalg.norm(batches[0]["true"])
    last = batches[-1]
    assert last["weight_error"] < 0.5 * np.linalg.norm(last["true"]), last
    # The malformed messages were reported by address, counted, and did not stop it.
    assert result["malformed"] == len(bad)
    assert malformed_reported(run.output) == bad
    # The plot is a real PNG.
    assert result["plot"] == str(plot)
    with open(plot, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    assert plot.stat().st_size > 10_000
    return result


def test_producer_labels_follow_the_drifting_weights(drifting):
    topic, _, run = drifting
    assert_clean_output(run.output)
    assert final(run.stdout) == {"delivered": COUNT, "failed": 0}
    offsets = re.findall(rf"^delivered to {topic}/0/(\d+): ", run.stdout, re.MULTILINE)
    assert sorted(map(int, offsets)) == list(range(COUNT))
    W = np.array(json.loads(re.search(r"W = (\[.*?\])", run.stdout).group(1)))
    messages = [json.loads(v) for v in first_values(topic, COUNT)]
    assert len(messages) == COUNT
    ts = [m["t"] for m in messages]
    assert ts == sorted(ts) and ts[-1] > ts[0] + 20  # time passes, 20x faster
    for m in messages:
        w = np.array(m["true_weights"])
        assert np.allclose(w, (m["t"] + 1) * W * 0.01, atol=1e-3)  # W printed rounded
        assert len(m["rows"]) == 10
        for row in m["rows"]:
            assert len(row["x"]) == 5 and all(0 <= v < 1 for v in row["x"])
            if row["known"]:  # dot(w, x) plus noise of std. dev. 0.01
                assert isinstance(row["label"], float)
                assert row["label"] == pytest.approx(float(w @ np.array(row["x"])), abs=0.06)
            else:
                assert row["label"] is None


def test_structured_streaming_tracks_the_drift(drifting, tmp_path):
    topic, bad, _ = drifting
    plot = tmp_path / "structured.png"
    # The topic is already full: --max-per-batch cuts it into micro-batches of 4
    # messages, as if they had arrived over time.
    run = run_exercise(RUN, "structured", "--topic", topic, "--starting-offsets", "earliest",
                       "--max-per-batch", 4, "--trigger", 0, "--max-messages", len(BAD) + COUNT,
                       "--json", "--plot", plot)
    result = check_tracking(run, plot, bad, min_updates=9)
    assert result["messages"] == len(BAD) + COUNT

    # Each model update went back into Kafka, once, as printed: learned and true weights,
    # the learner's and the frozen model's errors.
    output = f"{topic}-model"  # the default output topic
    try:
        records = read_records(output)
    finally:
        delete_topics(output)
    batches = [line for line in json_lines(run.stdout) if "batch" in line]
    assert [value for _, value in records] == batches
    assert result["published"] == result["updates"] == len(records)
    published = re.findall(rf"^  published to {output}/0/(\d+)$", run.stdout, re.MULTILINE)
    assert list(map(int, published)) == list(range(len(records)))


def test_solution_weighted_least_squares(drifting, tmp_path):
    topic, bad, _ = drifting
    plot = tmp_path / "wls.png"
    run = run_exercise(RUN, "solutions/weighted_least_squares.py", "--topic", topic,
                       "--starting-offsets", "earliest", "--max-per-batch", 4, "--trigger", 0,
                       "--max-messages", len(BAD) + COUNT, "--json", "--plot", plot)
    result = check_tracking(run, plot, bad, min_updates=9)
    # Compared with the SGD model on the same batches, printed and summed up.
    assert len(re.findall(r"SGD model, for comparison: prediction error", run.stdout)) >= 9
    # Both track the drift (check_tracking: the weighted least squares model); on
    # these batches SGD is the better tracker (see solutions/README.md).
    assert 0 < result["mean_sgd_rmse"] < 0.5 * result["mean_frozen_rmse"], result


def test_dstream_mllib_tracks_the_drift(kafka_server, tmp_path):
    topic = make_topic()
    bad = send_bad(topic)
    plot = tmp_path / "dstream.png"
    with producer_running(topic):
        # The default gradient steps (10 of size 2; MLlib runs a Spark job per step),
        # shown explicitly.
        run = run_exercise(RUN, "dstream", "--topic", topic, "--group", f"g-{topic}",
                           "--batch-seconds", 4, "--iterations", 10, "--step", 2,
                           "--batches", 6, "--seconds", 150, "--json", "--plot", plot, timeout=300)
    result = check_tracking(run, plot, bad, min_updates=6)
    # Every line the bridge forwarded was processed: one per message.
    assert result["messages"] >= result["updates"] + len(BAD)
    assert "were not processed" not in run.output
