"""A broker that goes away in the middle of a run: stopped for 15 s, every message is
delivered once and read once (producers, a consumer group, the DStream bridge, a
Structured Streaming query); stopped for longer than the producers' delivery timeout,
every message is delivered or counted as failed, in one line and exit 1, and Ctrl-C
does not wait for the broker.

These tests stop and start a broker of their own (bash infra/kafka.sh with
KAFKA_BROKER_DIR and KAFKA_SERVER on free ports below the ephemeral range): the broker
on KAFKA_SERVER, which other tests use at the same time, is left alone.
"""

import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import ROOT, assert_clean_output, final

pytestmark = pytest.mark.slow  # a broker of their own, started three times, and Spark


def free_port_pair():
    """Two free consecutive ports (clients, controller) below the ephemeral range, where
    no outgoing connection takes them by chance."""
    for _ in range(200):
        port = random.randrange(20000, 32000, 2)
        if 19100 <= port <= 19400:  # the course's three-broker cluster
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two free consecutive ports")


class Broker:
    """A single local broker of these tests: infra/kafka.sh, its own folder and ports."""

    def __init__(self, folder):
        self.runs = []  # every run started, killed after its test if still running
        self.server = f"localhost:{free_port_pair()}"
        self.env = {**os.environ, "KAFKA_SERVER": self.server, "KAFKA_BROKER_DIR": str(folder),
                    "SPARK_UI": "off"}

    def kafka_sh(self, command, timeout=240):
        proc = subprocess.run(["bash", str(ROOT / "infra/kafka.sh"), command], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def start(self):
        self.kafka_sh("start")

    def stop(self):
        self.kafka_sh("stop")

    def run(self, script, *args, env=None):
        """Start an exercise's run.sh in the background, as a student would."""
        self.runs.append(Run(script, args, {**self.env, **(env or {})}))
        return self.runs[-1]


class Run:
    """A run.sh in the background: its output collected line by line."""

    def __init__(self, script, args, env):
        self.proc = subprocess.Popen(["bash", str(ROOT / script), *map(str, args)], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     stdin=subprocess.DEVNULL)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, pattern, timeout):
        """Wait until a line matches pattern (a regex); fail if the run ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(re.search(pattern, line) for line in list(self.lines)):
                return
            assert self.proc.poll() is None, f"ended before {pattern!r}:\n{self.output[-3000:]}"
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} within {timeout} s:\n{self.output[-3000:]}")

    def finish(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"still running after {timeout} s:\n{self.output[-3000:]}") from None
        self._reader.join(10)
        return self.proc.returncode

    @property
    def output(self):
        return "".join(self.lines)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    broker = Broker(tmp_path_factory.mktemp("outage-broker"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(autouse=True)
def no_run_left(broker):
    yield
    for run in broker.runs:  # a test that failed half-way: its runs end with it
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait(30)
    broker.runs.clear()


def read_all(server, topic):
    """Every value of the topic, from its first offset to its last."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=server, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    end, values, deadline = consumer.end_offsets(partitions), [], time.monotonic() + 60
    while any(consumer.position(p) < end[p] for p in partitions) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            values += [r.value for r in records]
    consumer.close()
    return values


def addresses(output, pattern=r"^delivered to (\S+/\d+/\d+)"):
    return re.findall(pattern, output, re.MULTILINE)


def test_a_15_s_outage_loses_nothing_and_doubles_nothing(broker):
    topic = f"outage-short-{os.getpid()}"
    warm_up = broker.run("day1/simple_producer/run.sh", "--topic", topic, "--count", 10,
                         "--interval", 0.01, "--message", "warm up")
    assert warm_up.finish(90) == 0, warm_up.output
    # The readers: a consumer group, the DStream word count (through the bridge) and the
    # Structured Streaming one, each bounded to the 160 messages of the test.
    consumer = broker.run("day1/simple_consumer/run.sh", "--topics", topic, "--group", "outage",
                          "--max-messages", 160, "--seconds", 420)
    dstream = broker.run("day1/simple_sparkstream/run.sh", "--topic", topic, "--group", "outage-dstream",
                         "--batch-seconds", 2, "--max-messages", 160, "--seconds", 420)
    structured = broker.run("day2/simple_structuredstreaming/run.sh", "--topic", topic,
                            "--checkpoint", broker.env["KAFKA_BROKER_DIR"] + "/checkpoint",
                            "--trigger", 2, "--max-messages", 160, "--seconds", 420)
    # Both Spark jobs have run a batch with data: the outage falls in the middle of their run.
    dstream.wait_for(r"^Batch \S+: [1-9]\d* messages", 240)
    structured.wait_for(r"^Batch: 0", 240)

    producer = broker.run("day1/simple_producer/run.sh", "--topic", topic, "--count", 150,
                          "--interval", 0.1)
    producer.wait_for("^delivered to", 60)
    time.sleep(2)
    broker.stop()
    time.sleep(15)
    broker.start()

    assert producer.finish(240) == 0, producer.output[-3000:]
    assert final(producer.output) == {"delivered": 150, "failed": 0}
    assert len(set(addresses(producer.output))) == 150
    # In the topic: each message once (the idempotent producer resent none twice).
    values = [json.loads(v) for v in read_all(broker.server, topic)]
    assert len(values) == 160, f"{len(values)} messages in the topic, 160 sent"
    assert len({(v["time"], v["msg"]) for v in values}) == 160, "a message was written twice"

    # Each reader: every message once, and it went on after the outage.
    assert consumer.finish(420) == 0, consumer.output[-3000:]
    assert final(consumer.output)["messages"] == 160
    shown = addresses(consumer.output, rf"^({re.escape(topic)}/\d+/\d+): ")
    assert len(shown) == len(set(shown)) == 160, consumer.output[-3000:]
    for job in (dstream, structured):
        assert job.finish(420) == 0, job.output[-3000:]
        result = final(job.output)
        assert result["messages"] == 160 and result["malformed"] == 0, result
    assert final(dstream.output)["words"] == {"Hello,": 150, "World!": 150, "warm": 10, "up": 10}
    assert final(structured.output)["words"] == {"hello,": 150, "world!": 150, "warm": 10, "up": 10}
    for run in (producer, consumer, dstream, structured):
        assert_clean_output(run.output)


PRODUCERS = {  # the producer runs of the course: script, part, unique field of a message
    "simple_producer": ("day1/simple_producer/run.sh", [], "time"),
    "keyed_producer": ("day1/simple_producer/run.sh", ["solutions/keyed_producer.py"], "time"),
    "autodatascientist": ("day1/autodatascientist/run.sh", ["producer"], "rows"),
    "hamlet_producer": ("day2/stateful_wordcount/run.sh", ["producer"], "time"),
    "trendy_prices": ("day2/trendy_prices/run.sh", ["producer"], "t"),
    "twitter_cluster": ("day2/twitter_cluster/run.sh", ["producer"], None),  # texts repeat
}


def test_a_longer_outage_counts_every_undelivered_message_as_failed(broker):
    """Every producer, --count 200 every 0.1 s, and the broker away from the moment they
    all send until they have all ended (KAFKA_DELIVERY_TIMEOUT_MS=30000, the shortest
    kafka-python takes). One more producer, without --count, gets Ctrl-C during the
    outage and ends at once."""
    env = {"KAFKA_DELIVERY_TIMEOUT_MS": "30000"}
    runs, topics = {}, {}
    for name, (script, part, _) in PRODUCERS.items():
        topics[name] = f"outage-long-{name.replace('_', '-')}-{os.getpid()}"
        runs[name] = broker.run(script, *part, "--topic", topics[name], "--count", 200,
                                "--interval", 0.1, env=env)
    endless = broker.run("day1/simple_producer/run.sh", "--topic", f"outage-ctrl-c-{os.getpid()}",
                         "--interval", 0.1, env=env)
    # Each producer, once it has delivered a message, waits (SIGSTOP) for the others, which
    # start more slowly on a busy machine; they all go on (SIGCONT) into the outage.
    waiting, deadline = [*runs.values(), endless], time.monotonic() + 180
    while waiting:
        for run in [run for run in waiting if re.search(r"^(delivered to|round 1:|\[\w+\] \S+/\d+/\d+ )",
                                                        run.output, re.MULTILINE)]:
            run.proc.send_signal(signal.SIGSTOP)
            waiting.remove(run)
        for run in waiting:
            assert run.proc.poll() is None and time.monotonic() < deadline, run.output[-3000:]
        time.sleep(0.05)
    broker.stop()
    for run in (*runs.values(), endless):
        run.proc.send_signal(signal.SIGCONT)

    time.sleep(5)
    endless.proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    assert endless.finish(60) == 1, endless.output[-3000:]
    assert time.monotonic() - start < 10, "Ctrl-C waited for the broker"
    result = final(endless.output)
    assert result["failed"] > 0, result
    errors = [line for line in endless.lines if line.startswith("error:")]
    assert len(errors) == 1 and "when Ctrl-C stopped the run" in errors[0], endless.output[-3000:]
    assert_clean_output(endless.output)

    for name, run in runs.items():  # sending, then the delivery timeout (30 s) and a margin
        assert run.finish(240) == 1, f"{name}:\n{run.output[-3000:]}"
    broker.start()

    for name, run in runs.items():
        assert_clean_output(run.output)
        result = final(run.output)
        assert result["delivered"] + result["failed"] == 200, f"{name}: {result}"
        assert result["failed"] > 0, f"{name}: {result}"
        errors = [line for line in run.lines if line.startswith("error:")]
        assert len(errors) == 1, f"{name}:\n{run.output[-3000:]}"
        assert f"{result['failed']} message(s) not delivered" in errors[0], errors[0]
        assert "bash infra/kafka.sh start" in errors[0], errors[0]
        # What a reader finds: every message delivered, maybe some counted as failed that the
        # broker had written just before it stopped, and none twice.
        values = [json.loads(v) for v in read_all(broker.server, topics[name])]
        assert result["delivered"] <= len(values) <= 200, f"{name}: {result}, {len(values)} in the topic"
        field = PRODUCERS[name][2]
        if field:
            unique = {json.dumps(v[field]) for v in values}
            assert len(unique) == len(values), f"{name}: a message was written twice"
