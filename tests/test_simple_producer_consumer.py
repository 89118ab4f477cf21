"""day1/simple_producer and day1/simple_consumer (and their solutions) against the
real broker."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid

from conftest import KAFKA_SERVER, ROOT, assert_clean_output, final, malformed_reported, run_exercise

PRODUCER = "day1/simple_producer/run.sh"
CONSUMER = "day1/simple_consumer/run.sh"
RECORD_LINE = re.compile(r"^(\S+)/(\d+)/(\d+): (\{.*\})$", re.MULTILINE)


def consumed(output):
    """The (topic, partition, offset, value) the consumer printed, values parsed."""
    return [(t, int(p), int(o), json.loads(v)) for t, p, o, v in RECORD_LINE.findall(output)]


def unique_group():
    return f"test-{uuid.uuid4().hex[:8]}"


def test_producer_then_consumer_round_trip(new_topic):
    topic = new_topic()
    produced = run_exercise(PRODUCER, "--count", 5, "--interval", 0.05, "--topic", topic)
    deliveries = re.findall(rf"^delivered to {topic}/0/(\d+)$", produced.output, re.MULTILINE)
    assert deliveries == ["0", "1", "2", "3", "4"]
    assert final(produced.output) == {"delivered": 5, "failed": 0}

    got = run_exercise(CONSUMER, "--max-messages", 5, "--topics", topic, "--group", unique_group())
    records = consumed(got.output)
    assert [offset for _, _, offset, _ in records] == [0, 1, 2, 3, 4]
    for _, _, _, value in records:
        assert value["msg"] == "Hello, World!"
        assert abs(value["time"] / 1000 - time.time()) < 120  # epoch milliseconds, recent
    assert final(got.output) == {"messages": 5, "malformed": 0}
    assert_clean_output(produced.output + got.output)


def test_consume_topics_from_environment_and_group_resumes(new_topic, produce):
    first, second = new_topic(), new_topic()
    produce(first, [{"time": 1, "msg": "a"}, {"time": 2, "msg": "b"}])
    produce(second, [{"time": 3, "msg": "c"}])
    group = unique_group()
    env = {"CONSUME_TOPICS": f"{first},{second}"}

    got = run_exercise(CONSUMER, "--max-messages", 3, "--group", group, env=env)
    assert sorted(v["msg"] for *_, v in consumed(got.output)) == ["a", "b", "c"]

    # The group committed its offsets: a second run of the same group sees only new data.
    produce(first, [{"time": 4, "msg": "d"}])
    again = run_exercise(CONSUMER, "--seconds", 4, "--group", group, env=env)
    assert [v["msg"] for *_, v in consumed(again.output)] == ["d"]


def test_malformed_message_is_reported_and_skipped(new_topic, produce):
    topic = new_topic()
    bad = [b"not json {", b"\xff\xfe"]
    produce(topic, [{"time": 1, "msg": "before"}, *bad, {"time": 2, "msg": "after"}])
    got = run_exercise(CONSUMER, "--max-messages", 4, "--topics", topic, "--group", unique_group())
    assert [v["msg"] for *_, v in consumed(got.output)] == ["before", "after"]
    assert malformed_reported(got.output) == [(topic, 0, 1), (topic, 0, 2)]
    assert final(got.output) == {"messages": 4, "malformed": 2}
    assert_clean_output(got.output)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_broker_fails_fast_with_one_clear_line():
    dead = f"localhost:{free_port()}"
    for script, args in [(PRODUCER, ["--count", 1]), (CONSUMER, ["--max-messages", 1])]:
        start = time.monotonic()
        proc = run_exercise(script, *args, env={"KAFKA_SERVER": dead}, check=False, timeout=30)
        elapsed = time.monotonic() - start
        assert proc.returncode != 0
        assert elapsed < 10, f"{script} took {elapsed:.1f} s to give up"
        errors = [line for line in proc.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, proc.output
        assert dead in errors[0] and "bash infra/kafka.sh start" in errors[0]
        assert "Traceback" not in proc.output


def start_and_interrupt(args, ready_text):
    """Start a run.sh, wait until it printed ready_text, press Ctrl-C, return its output."""
    proc = subprocess.Popen(
        ["bash", str(ROOT / args[0]), *map(str, args[1:])],
        cwd=ROOT,
        env={**os.environ, "KAFKA_SERVER": KAFKA_SERVER},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if ready_text in line:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()  # not communicate(): it would skip what the loop buffered
    proc.wait(timeout=30)
    return proc.returncode, "".join(lines) + rest


def test_ctrl_c_flushes_producer_and_commits_consumer(new_topic):
    topic = new_topic()
    third_delivery = f"delivered to {topic}/0/2"
    code, output = start_and_interrupt([PRODUCER, "--topic", topic, "--interval", 0.1], third_delivery)
    assert code == 0 and "Traceback" not in output
    sent = int(re.search(r"Sent (\d+) message", output).group(1))
    assert sent >= 3
    # Everything the producer accepted before Ctrl-C reached the broker.
    assert len(re.findall(r"delivered to ", output)) == sent
    assert final(output) == {"delivered": sent, "failed": 0}

    group = unique_group()
    consumer = [CONSUMER, "--topics", topic, "--group", group]
    code, output = start_and_interrupt(consumer, f"{topic}/0/0:")
    assert "Traceback" not in output and "Ctrl-C: committing offsets" in output
    seen = len(consumed(output))
    assert final(output) == {"messages": seen, "malformed": 0}
    # The offsets were committed: the same group goes on after what it printed.
    rest = run_exercise(CONSUMER, "--seconds", 4, "--topics", topic, "--group", group)
    assert seen + len(consumed(rest.output)) == sent, output + rest.output


def test_keyed_producer_solution_keeps_each_key_on_one_partition(new_topic):
    topic = new_topic(partitions=3)
    run = run_exercise(PRODUCER, "solutions/keyed_producer.py", "--topic", topic, "--count", 12,
                       "--interval", 0, "--keys", 3)
    assert_clean_output(run.output)
    reports = re.findall(rf"^delivered to {topic}/(\d+)/(\d+) \(key (\S+)\)$", run.output,
                         re.MULTILINE)
    assert len(reports) == 12 and final(run.output) == {"delivered": 12, "failed": 0}
    by_key = {}
    for partition, offset, key in reports:
        by_key.setdefault(key, []).append((int(partition), int(offset)))
    assert sorted(by_key) == ["sensor-0", "sensor-1", "sensor-2"]
    for addresses in by_key.values():
        assert len({p for p, _ in addresses}) == 1, by_key  # same key, same partition ...
        offsets = [o for _, o in addresses]
        assert offsets == sorted(offsets), by_key  # ... in the order they were sent
