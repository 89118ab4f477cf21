"""day1/simple_consumer, exercise 2: consumers of one group share a topic's partitions,
and each says which partitions it reads after every rebalance that changes its share.
Two real consumers (run.sh, as in two terminals), a real broker, a 2-partition topic."""

import os
import re
import signal
import subprocess
import time

from kafka import KafkaProducer

from conftest import KAFKA_SERVER, ROOT, assert_clean_output, final

SCRIPT = "day1/simple_consumer/run.sh"


class Consumer:
    """bash day1/simple_consumer/run.sh ... in a terminal of its own: its output so far,
    and Ctrl-C."""

    def __init__(self, tmp_path, name, *args):
        self.log = tmp_path / f"{name}.txt"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(["bash", str(ROOT / SCRIPT), *args], cwd=ROOT,
                                         env={**os.environ, "KAFKA_SERVER": KAFKA_SERVER},
                                         stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def output(self):
        return self.log.read_text()

    def assignments(self):
        """The partitions of each `rebalance:` line, in order: [{"t/0", "t/1"}, ...]."""
        found = re.findall(r"^rebalance: group '\S+' gave this consumer (.*)$", self.output, re.MULTILINE)
        return [set() if "no partition" in a else set(a.split(", ")) for a in found]

    def read(self):
        """The addresses (topic/partition/offset) of the messages it printed."""
        return re.findall(r"^(\S+/\d+/\d+): \{", self.output, re.MULTILINE)

    def ctrl_c(self):
        os.killpg(self.proc.pid, signal.SIGINT)
        self.proc.wait(timeout=30)
        return self.output


def wait_for(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_two_consumers_share_two_partitions_and_say_so(new_topic, tmp_path):
    topic = new_topic(partitions=2)
    both = {f"{topic}/0", f"{topic}/1"}
    group = ["--topics", topic, "--group", f"g-{topic}"]
    first = Consumer(tmp_path, "first", *group)
    second = None
    try:
        wait_for(lambda: first.assignments()[-1:] == [both], "the first consumer to get both partitions")
        second = Consumer(tmp_path, "second", *group)
        # The second joins: a rebalance gives each consumer one partition.
        wait_for(lambda: len(second.assignments()) >= 1 and len(first.assignments()) >= 2
                 and first.assignments()[-1] | second.assignments()[-1] == both
                 and len(first.assignments()[-1]) == 1, "a rebalance that splits the partitions")
        producer = KafkaProducer(bootstrap_servers=KAFKA_SERVER)
        for i in range(10):
            producer.send(topic, value=b'{"time": 1, "msg": "hi"}', partition=i % 2)
        producer.flush()
        producer.close()
        wait_for(lambda: len(first.read()) + len(second.read()) >= 10, "the 10 messages to be read")
        out_second = second.ctrl_c()
        # The second left: the first gets both partitions back.
        wait_for(lambda: first.assignments()[-1] == both, "the first consumer to get both back")
        out_first = first.ctrl_c()
    finally:
        for consumer in (first, second):
            if consumer and consumer.proc.poll() is None:
                consumer.proc.kill()
    for consumer, out in ((first, out_first), (second, out_second)):
        assert_clean_output(out)
        assert "Ctrl-C: committing offsets" in out
        mine = consumer.assignments()[-1 if consumer is second else -2]
        # each printed only messages of the partition it was given
        assert {address.rsplit("/", 1)[0] for address in consumer.read()} == mine, out
    # every message once, five per partition
    expected = sorted(f"{topic}/{p}/{o}" for p in (0, 1) for o in range(5))
    assert sorted(first.read() + second.read()) == expected
    assert final(out_first)["messages"] + final(out_second)["messages"] == 10
