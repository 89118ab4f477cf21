"""The local broker's tooling (infra/kafka.sh) interoperates with the exercises:
Kafka's own console tools and the course's Python scripts read each other's data."""

import json
import re
import socket

from conftest import assert_clean_output, run_exercise


def test_status_exits_zero_only_when_a_broker_answers(kafka_server):
    up = run_exercise("infra/kafka.sh", "status")
    assert f"Kafka broker answers on {kafka_server}" in up.output

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"localhost:{s.getsockname()[1]}"
    down = run_exercise("infra/kafka.sh", "status", env={"KAFKA_SERVER": dead}, check=False)
    assert down.returncode != 0
    assert f"No Kafka broker answers on {dead}" in down.output


def test_console_consumer_reads_what_simple_producer_wrote(new_topic):
    topic = new_topic()
    run_exercise("day1/simple_producer/run.sh", "--count", 3, "--interval", 0.05, "--topic", topic,
                 "--message", "from python")
    got = run_exercise("infra/kafka.sh", "console-consumer", "--topic", topic, "--from-beginning",
                       "--max-messages", 3, "--timeout-ms", 20000)
    values = [json.loads(line) for line in got.stdout.splitlines() if line.startswith("{")]
    assert [v["msg"] for v in values] == ["from python"] * 3
    assert all(isinstance(v["time"], int) for v in values)


def test_simple_consumer_reads_what_console_producer_wrote(new_topic):
    topic = new_topic()
    lines = [json.dumps({"time": 1000 + i, "msg": f"typed line {i}"}) for i in range(3)]
    run_exercise("infra/kafka.sh", "console-producer", "--topic", topic, input="\n".join(lines) + "\n")
    got = run_exercise("day1/simple_consumer/run.sh", "--topics", topic, "--max-messages", 3,
                       "--group", f"g-{topic}")
    printed = re.findall(rf"^{topic}/0/\d+: (\{{.*\}})$", got.output, re.MULTILINE)
    assert [json.loads(v)["msg"] for v in printed] == ["typed line 0", "typed line 1", "typed line 2"]
    assert_clean_output(got.output)


def test_topics_and_consumer_groups_tools(new_topic, produce):
    topic = new_topic(partitions=2)
    described = run_exercise("infra/kafka.sh", "topics", "--describe", "--topic", topic)
    assert "PartitionCount: 2" in described.output

    [(partition, _)] = produce(topic, [{"time": 1, "msg": "x"}])
    group = f"g-{topic}"
    run_exercise("day1/simple_consumer/run.sh", "--topics", topic, "--max-messages", 1, "--group", group)
    groups = run_exercise("infra/kafka.sh", "consumer-groups", "--describe", "--group", group)
    # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...: the group committed
    # offset 1 on the message's partition and has no lag there.
    rows = {int(r[2]): r[3:6] for r in map(str.split, groups.stdout.splitlines()) if r[:1] == [group]}
    assert rows[partition] == ["1", "1", "0"], groups.output


def test_producer_perf_test_runs(new_topic):
    topic = new_topic()
    perf = run_exercise("infra/kafka.sh", "producer-perf-test", "--topic", topic,
                        "--num-records", 2000, "--record-size", 100, "--throughput", -1)
    assert re.search(r"^2000 records sent, [\d.]+ records/sec", perf.stdout, re.MULTILINE), perf.output
