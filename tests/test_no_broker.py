"""Without a broker every Kafka-facing script gives up within 10 s, with one line
that names the address and how to start a broker: no traceback, no hang."""

import socket
import time

import pytest

from conftest import run_exercise

KAFKA_COMMANDS = [
    ("day1/simple_sparkstream/run.sh",),
    ("day1/autodatascientist/run.sh", "producer"),
    ("day1/autodatascientist/run.sh", "consumer"),
    ("day1/autodatascientist/run.sh", "solutions/honest_scoreboard.py"),
    ("day1/simple_producer/run.sh",),
    ("day1/simple_consumer/run.sh",),
    ("day2/simple_structuredstreaming/run.sh",),
    ("day2/stateful_wordcount/run.sh", "producer"),
    ("day2/stateful_wordcount/run.sh", "structured"),
    ("day2/windowed_sum/run.sh", "events"),
    ("day2/trendy_prices/run.sh", "producer"),
    ("day2/trendy_prices/run.sh", "structured"),
    ("day2/trendy_prices/run.sh", "dstream"),
    ("day2/twitter_cluster/run.sh", "producer"),
    ("day2/twitter_cluster/run.sh", "streaming-kmeans"),
    ("day2/live_dashboard/run.sh",),
    ("day2/live_dashboard/run.sh", "demo"),
    ("advanced/exactly_once/run.sh",),
    ("advanced/spark_cluster/run.sh",),
]


@pytest.fixture(scope="module")
def dead_address():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"localhost:{s.getsockname()[1]}"


@pytest.mark.parametrize("command", KAFKA_COMMANDS, ids=" ".join)
def test_fails_fast_with_one_line(command, dead_address):
    start = time.monotonic()
    proc = run_exercise(*command, env={"KAFKA_SERVER": dead_address}, check=False, timeout=60)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0, proc.output
    assert elapsed < 10, f"took {elapsed:.1f} s to give up:\n{proc.output}"
    errors = [line for line in proc.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.output
    assert dead_address in errors[0] and "infra/kafka.sh start" in errors[0], errors[0]
    assert "Traceback" not in proc.output
