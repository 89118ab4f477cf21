"""day1/simple_sparkstream: the DStream word count, fed from Kafka through the
Kafka-to-socket bridge, and in netcat mode from a socket the test serves itself.
The counts summed over the batches must equal a plain Python count."""

import json
import socket
import threading
import time
from collections import Counter

import pytest
from kafka import KafkaAdminClient, TopicPartition

from conftest import assert_clean_output, run_exercise

SCRIPT = "day1/simple_sparkstream/run.sh"

TEXTS = [
    "Hello, World!",
    "the quick brown fox jumps over the lazy dog",
    "to be or not to be",
    "Hello again, World",
    "Streaming  with   Spark and Kafka",  # several spaces in a row
    "the end",
    "Grüße aus Köln",
]


def final(output):
    """The FINAL {...} summary line of a run, parsed."""
    lines = [line for line in output.splitlines() if line.startswith("FINAL ")]
    assert lines, f"no FINAL line in output:\n{output[-3000:]}"
    return json.loads(lines[-1][len("FINAL "):])


def plain_count(texts):
    return dict(Counter(word for text in texts for word in text.split()))


def test_kafka_word_count_equals_plain_count(kafka_server, new_topic, produce):
    """Known messages (one malformed among them) wait on a fresh topic; more keep
    arriving while the job runs and when it stops. What the job counted must be
    exactly the messages whose offsets the bridge committed: all of them, once."""
    topic = new_topic()
    sent = {}  # offset -> value

    def send(values):
        for (_, offset), value in zip(produce(topic, values), values, strict=True):
            sent[offset] = value

    messages = [{"time": int(time.time() * 1000), "msg": text} for text in TEXTS * 3]
    send(messages[:10] + ["this is {not JSON"] + messages[10:])
    done = threading.Event()

    def keep_producing():  # a message every 0.1 s until the run is over
        i = 0
        while not done.wait(0.1):
            send([{"time": int(time.time() * 1000), "msg": TEXTS[i % len(TEXTS)]}])
            i += 1

    producer = threading.Thread(target=keep_producing, daemon=True)
    producer.start()
    try:
        run = run_exercise(SCRIPT, "--topic", topic, "--batch-seconds", "2", "--seconds", "12",
                           timeout=180)
    finally:
        done.set()
        producer.join()

    assert_clean_output(run.output)
    admin = KafkaAdminClient(bootstrap_servers=kafka_server)
    try:
        partition = TopicPartition(topic, 0)
        offsets = admin.list_group_offsets({"simple_sparkstream": [partition]})
    finally:
        admin.close()
    committed = offsets["simple_sparkstream"][partition].offset
    assert len(messages) + 1 < committed < len(sent)  # the stop came while messages flowed
    counted = [sent[offset] for offset in range(committed)]
    texts = [value["msg"] for value in counted if isinstance(value, dict)]
    summary = final(run.stdout)
    assert summary["words"] == plain_count(texts)
    assert summary["messages"] == len(texts)
    assert summary["malformed"] == 1
    assert "this is {not JSON" in run.stdout
    assert "Batch " in run.stdout  # the human-readable per-batch report


class FakeNetcat:
    """Plays `nc -lk PORT`: listens on a free port; to every connection that stays
    open (the script first probes the port and closes, then Spark's receiver
    connects) it sends the lines, then keeps it open like nc does."""

    def __init__(self, lines):
        self.payload = "".join(line + "\n" for line in lines).encode()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:  # closed by close()
                return
            self.conns.append(conn)
            conn.settimeout(1.0)
            try:
                if conn.recv(1) == b"":  # the peer closed at once: a probe
                    continue
            except TimeoutError:
                pass
            conn.sendall(self.payload)

    def close(self):
        self.server.close()
        for conn in self.conns:
            conn.close()


def test_netcat_mode_word_count_equals_plain_count():
    lines = TEXTS * 2
    nc = FakeNetcat(lines)
    try:
        run = run_exercise(SCRIPT, "--socket", f"127.0.0.1:{nc.port}", "--batch-seconds", "2",
                           "--max-messages", len(lines), "--seconds", "100", timeout=180)
    finally:
        nc.close()
    assert_clean_output(run.output)
    summary = final(run.stdout)
    assert summary["words"] == plain_count(lines)
    assert summary["messages"] == len(lines)
    assert summary["malformed"] == 0  # netcat lines are plain text, not JSON


def test_netcat_mode_without_listener_says_so():
    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = run_exercise(SCRIPT, "--socket", f"127.0.0.1:{port}", timeout=60, check=False)
    assert run.returncode != 0
    assert f"nothing listens on 127.0.0.1:{port}" in run.output
    assert f"nc -lk {port}" in run.output
    assert_clean_output(run.output)


@pytest.mark.parametrize("bad", ["9999", "localhost:", "localhost:port"])
def test_socket_argument_is_checked(bad):
    run = run_exercise(SCRIPT, "--socket", bad, timeout=60, check=False)
    assert run.returncode == 2 and "--socket wants HOST:PORT" in run.output
