"""Without a broker every Kafka-facing script gives up within 10 s, with one line
that names the address and how to start a broker: no traceback, no hang. A port
where something else listens (not a Kafka broker) is named with its holder, by
run.sh and by bash infra/kafka.sh status and start; run.sh starts the course's
broker on its own only on the address the course was set up for."""

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import ROOT, run_exercise

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


def port_in_use(address):
    host, port = address.rsplit(":", 1)
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", int(port))) == 0


def test_no_broker_is_started_on_a_port_the_course_was_not_set_up_for(dead_address):
    """run.sh starts the course's broker on its own only on the address setup.sh used."""
    proc = run_exercise("day1/simple_consumer/run.sh", env={"KAFKA_SERVER": dead_address},
                        check=False, timeout=60)
    assert proc.returncode == 1, proc.output
    assert f"nothing listens on port {dead_address.rsplit(':', 1)[1]}" in proc.stderr, proc.output
    assert "starting the local" not in proc.output, proc.output
    assert not port_in_use(dead_address), "a broker was started on a port nobody set up"


@pytest.fixture
def foreign_listener():
    """A plain TCP server that is not Kafka: it accepts connections and answers nothing."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    held, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:  # the 0.2 s timeout: look at stop again
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"localhost:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def assert_names_the_holder(line, address):
    assert address in line and "does not answer as a Kafka broker" in line, line
    if shutil.which("ss") or shutil.which("lsof"):
        assert f"(pid {os.getpid()})" in line, line  # the holder: this test


@pytest.mark.parametrize("command", [("day1/simple_producer/run.sh",),
                                     ("day2/simple_structuredstreaming/run.sh",)], ids=" ".join)
def test_run_sh_names_the_program_that_holds_the_port(command, foreign_listener):
    start = time.monotonic()
    proc = run_exercise(*command, env={"KAFKA_SERVER": foreign_listener}, check=False, timeout=60)
    elapsed = time.monotonic() - start
    assert proc.returncode == 1, proc.output
    assert elapsed < 30, f"took {elapsed:.1f} s to give up:\n{proc.output}"
    errors = [line for line in proc.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.output
    assert_names_the_holder(errors[0], foreign_listener)
    assert "Traceback" not in proc.output and "starting the local" not in proc.output, proc.output


def kafka_sh(command, address, broker_dir=None):
    env = {**os.environ, "KAFKA_SERVER": address}
    if broker_dir:  # not the repository's local broker, which may run on 9092
        env["KAFKA_BROKER_DIR"] = str(broker_dir)
    proc = subprocess.run(["bash", str(ROOT / "infra/kafka.sh"), command], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    proc.output = proc.stdout + proc.stderr
    return proc


def test_status_names_the_program_that_holds_the_port(foreign_listener):
    proc = kafka_sh("status", foreign_listener)
    assert proc.returncode == 1, proc.output
    assert len(proc.output.strip().splitlines()) == 1, proc.output
    assert_names_the_holder(proc.stdout, foreign_listener)


def test_status_says_that_nothing_listens(dead_address):
    proc = kafka_sh("status", dead_address)
    assert proc.returncode == 1, proc.output
    assert proc.output.strip() == (f"No Kafka broker answers on {dead_address}: nothing listens on port "
                                   f"{dead_address.rsplit(':', 1)[1]}. Start one: bash infra/kafka.sh start")


def test_start_names_the_program_that_holds_the_port(foreign_listener, tmp_path):
    proc = kafka_sh("start", foreign_listener, tmp_path)
    assert proc.returncode == 1, proc.output
    port = foreign_listener.rsplit(":", 1)[1]
    taken = f"error: port {port} (the broker's port for clients) is already taken by "
    assert proc.stderr.startswith(taken), proc.output
    if shutil.which("ss") or shutil.which("lsof"):
        assert f"(pid {os.getpid()})" in proc.stderr, proc.output
    assert len(proc.stderr.strip().splitlines()) == 1, proc.output
