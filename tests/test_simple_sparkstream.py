"""day1/simple_sparkstream: the DStream word count, fed from Kafka through the
Kafka-to-socket bridge, and the netcat part fed from a socket the test serves itself.
The counts summed over the batches must equal a plain Python count; the solutions
normalize the words and count a sliding window."""

import re
import socket
import threading
import time
from collections import Counter

import pytest
from kafka import KafkaAdminClient, TopicPartition

from conftest import KAFKA_SERVER, assert_clean_output, final, malformed_reported, run_exercise

SCRIPT = "day1/simple_sparkstream/run.sh"
KEEPS_UP = re.compile(r"(\d+) batches of [\d.]+ s: processing took ([\d.]+) s median, "
                      r"([\d.]+) s max")

TEXTS = [
    "Hello, World!",
    "the quick brown fox jumps over the lazy dog",
    "to be or not to be",
    "Hello again, World",
    "Streaming  with   Spark and Kafka",  # several spaces in a row
    "the end",
    "Grüße aus Köln",
]


def plain_count(texts):
    return dict(Counter(word for text in texts for word in text.split()))


def message(text):
    return {"time": int(time.time() * 1000), "msg": text}


def committed_offset(topic, group):
    admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVER)
    try:
        partition = TopicPartition(topic, 0)
        return admin.list_group_offsets({group: [partition]})[group][partition].offset
    finally:
        admin.close()


def test_kafka_word_count_equals_plain_count(new_topic, produce):
    """Known messages (two malformed among them) wait on a fresh topic; more keep
    arriving while the job runs and when it stops. What the job counted must be
    exactly the messages whose offsets the bridge committed: all of them, once."""
    topic = new_topic()
    sent = {}  # offset -> value

    def send(values):
        for (_, offset), value in zip(produce(topic, values), values, strict=True):
            sent[offset] = value

    messages = [message(text) for text in TEXTS * 3]
    send(messages[:10] + ["this is {not JSON", {"time": 1}] + messages[10:])
    done = threading.Event()

    def keep_producing():  # a message every 0.1 s until the run is over
        i = 0
        while not done.wait(0.1):
            send([message(TEXTS[i % len(TEXTS)])])
            i += 1

    producer = threading.Thread(target=keep_producing, daemon=True)
    producer.start()
    try:
        run = run_exercise(SCRIPT, "--topic", topic, "--group", f"g-{topic}", "--batch-seconds", "2",
                           "--seconds", "12",
                           timeout=180)
    finally:
        done.set()
        producer.join()

    assert_clean_output(run.output)
    committed = committed_offset(topic, f"g-{topic}")
    assert len(messages) + 2 < committed < len(sent)  # the stop came while messages flowed
    counted = [sent[offset] for offset in range(committed)]
    texts = [value["msg"] for value in counted if isinstance(value, dict) and "msg" in value]
    summary = final(run.stdout)
    assert summary["words"] == plain_count(texts)
    assert summary["messages"] == committed  # every line, malformed ones included
    assert summary["malformed"] == 2
    assert malformed_reported(run.output) == [(topic, 0, 10), (topic, 0, 11)]
    assert summary["batches"] >= 2
    assert re.search(r"^Batch \d\d:\d\d:\d\d: \d+ messages", run.stdout, re.MULTILINE)
    assert "top words: " in run.stdout
    keeps_up = KEEPS_UP.search(run.stderr)  # the one line on how long the batches took
    assert keeps_up and int(keeps_up[1]) >= summary["batches"], run.stderr[-2000:]


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


def test_netcat_word_count_equals_plain_count():
    lines = TEXTS * 2
    nc = FakeNetcat(lines)
    try:
        run = run_exercise(SCRIPT, "netcat", "--socket", f"127.0.0.1:{nc.port}",
                           "--max-messages", len(lines), "--seconds", "100", timeout=180)
    finally:
        nc.close()
    assert_clean_output(run.output)
    summary = final(run.stdout)
    assert summary["words"] == plain_count(lines)
    assert summary["messages"] == len(lines)
    assert summary["malformed"] == 0  # netcat lines are plain text, not JSON
    assert re.search(r"^Batch \d\d:\d\d:\d\d: \d+ words: the \(", run.stdout, re.MULTILINE)


def test_netcat_without_listener_says_so():
    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = run_exercise(SCRIPT, "netcat", "--socket", f"127.0.0.1:{port}", timeout=60,
                       check=False)
    assert run.returncode != 0
    assert f"nothing listens on 127.0.0.1:{port}" in run.output
    assert f"nc -lk {port}" in run.output
    assert_clean_output(run.output)


@pytest.mark.parametrize("bad", ["9999", "localhost:", "localhost:port"])
def test_socket_argument_is_checked(bad):
    run = run_exercise(SCRIPT, "netcat", "--socket", bad, timeout=60, check=False)
    assert run.returncode == 2 and "--socket wants HOST:PORT" in run.output


def test_solution_normalized_words(new_topic, produce):
    topic = new_topic()
    texts = ["Hello, World!", "hello world", "HELLO -- world?", "It's  the end."]
    produce(topic, [message(text) for text in texts])
    run = run_exercise(SCRIPT, "solutions/normalized_words.py", "--topic", topic, "--group", f"g-{topic}",
                       "--batch-seconds", "2", "--max-messages", len(texts), "--seconds", "100")
    assert_clean_output(run.output)
    summary = final(run.stdout)
    # "--" is punctuation only: no word
    assert summary["words"] == {"hello": 3, "world": 3, "it's": 1, "the": 1, "end": 1}
    assert summary["messages"] == len(texts) and summary["malformed"] == 0


def test_solution_windowed_top_words(new_topic, produce):
    topic = new_topic()
    texts = ["a b a", "c a b", "b a"]
    produce(topic, [message(text) for text in texts])
    run = run_exercise(SCRIPT, "solutions/windowed_top_words.py", "--topic", topic, "--group", f"g-{topic}",
                       "--batch-seconds", "2", "--max-messages", len(texts), "--seconds", "100")
    assert_clean_output(run.output)
    summary = final(run.stdout)
    assert summary["words"] == {"a": 4, "b": 3, "c": 1}
    assert summary["busiest_window"] == {"a": 4, "b": 3, "c": 1}
    assert "  last 6 s: a (4)  b (3)  c (1)" in run.stdout
