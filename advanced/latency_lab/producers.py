"""Part 1 of the latency lab: how fast can Python write to Kafka?

The same records (--records of --record-size bytes, to a topic of one partition) are
sent by three producers, one after another, on the same broker:
- kafka-python, the course's client: pure Python, every record encoded, batched and
  sent by the interpreter;
- confluent-kafka: a thin Python layer over librdkafka, a C library that batches,
  compresses and sends in its own threads;
- Kafka's own Java producer, through `kafka-producer-perf-test` (bash infra/kafka.sh
  producer-perf-test ...), a JVM started for the test.
Each with acks=1 (the leader has written it) and acks=all (every in-sync replica has:
with idempotence, as advanced/kafka_cluster teaches), and with batching (linger.ms=5,
batch.size=64 KiB: a batch waits up to 5 ms to fill) and without (one record per
batch: a request per record; a tenth of the records, it is slow).

The Python figures time the sends and the final flush(), after one record that opens
the connection; "wall" adds making the producer. The perf tool's own figure starts
once its producer is made; its "wall" is the whole command, the JVM's start included.
"""

import os
import re
import subprocess
import time

import confluent_kafka
import kafka
from kafka import KafkaProducer

import course

KAFKA_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "infra", "kafka.sh")
BATCHING = {True: "linger 5 ms, 64 KiB", False: "none (1 record)"}


def kafka_python(topic, records, payload, acks, batching):
    """kafka-python: the send()s and the flush() timed, every delivery report counted."""
    made = time.perf_counter()
    producer = KafkaProducer(bootstrap_servers=course.KAFKA_SERVER, acks=1 if acks == "1" else "all",
                             enable_idempotence=acks == "all", linger_ms=5 if batching else 0,
                             batch_size=65536 if batching else 0)
    producer.send(topic, payload).get(timeout=30)  # connected, the topic's metadata known
    delivered = []
    start = time.perf_counter()
    for _ in range(records):
        producer.send(topic, payload).add_callback(delivered.append)
    producer.flush()
    end = time.perf_counter()
    producer.close()
    return len(delivered), end - start, end - made


def confluent(topic, records, payload, acks, batching):
    """confluent-kafka: produce() queues the record in librdkafka, whose threads batch
    and send it; poll() serves the delivery reports; flush() waits for all."""
    made = time.perf_counter()
    producer = confluent_kafka.Producer({
        "bootstrap.servers": course.KAFKA_SERVER, "acks": acks, "enable.idempotence": acks == "all",
        "linger.ms": 5 if batching else 0,
        **({"batch.size": 65536} if batching else {"batch.num.messages": 1})})
    producer.produce(topic, payload)
    producer.flush(30)
    delivered = []

    def report(error, message):
        if error is None:
            delivered.append(message.offset())

    start = time.perf_counter()
    for _ in range(records):
        while True:
            try:
                producer.produce(topic, payload, on_delivery=report)
                break
            except BufferError:  # librdkafka's queue is full: let it send some
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)
    end = time.perf_counter()
    return len(delivered), end - start, end - made


def perf_test(topic, records, payload, acks, batching):
    """Kafka's own Java producer; its last line reads: "50000 records sent, 69832.4
    records/sec (6.66 MB/sec), 12.3 ms avg latency, ..."."""
    props = [f"acks={acks}", f"enable.idempotence={str(acks == 'all').lower()}",
             f"linger.ms={5 if batching else 0}", f"batch.size={65536 if batching else 0}"]
    start = time.perf_counter()
    tool = subprocess.run(["bash", KAFKA_SH, "producer-perf-test", "--topic", topic,
                           "--num-records", str(records), "--record-size", str(len(payload)),
                           "--throughput", "-1", "--command-property", *props],
                          capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    summary = [line for line in tool.stdout.splitlines() if "99.9th" in line]  # the final line
    if tool.returncode != 0 or not summary:
        said = (tool.stderr or tool.stdout).strip().splitlines() or ["(nothing)"]
        raise SystemExit(f"error: kafka-producer-perf-test exited {tool.returncode}: {said[-1]}")
    sent, rate = re.match(r"(\d+) records sent, ([\d.]+) records/sec", summary[-1]).groups()
    return int(sent), int(sent) / float(rate), wall


CLIENTS = {f"kafka-python {kafka.__version__}": kafka_python,
           f"confluent-kafka {confluent_kafka.__version__}": confluent,
           "kafka-producer-perf-test (Java)": perf_test}


def run(topic, records, record_size):
    """Every client, acks and batching: a list of result rows (dicts)."""
    payload, rows = b"x" * record_size, []
    for batching in (True, False):
        count = records if batching else max(records // 10, 100)
        for acks in ("1", "all"):
            for client, send in CLIENTS.items():
                delivered, seconds, wall = send(topic, count, payload, acks, batching)
                if delivered != count:
                    raise SystemExit(f"error: {client} delivered {delivered} of {count} records")
                rows.append({"client": client, "acks": acks, "batching": BATCHING[batching],
                             "records": count, "seconds": round(seconds, 3), "wall_seconds": round(wall, 2),
                             "records_per_s": round(count / seconds),
                             "mib_per_s": round(count * record_size / seconds / 2**20, 2)})
                print(f"  {client:34} acks={acks:3} batching: {BATCHING[batching]:20} {count:7} records "
                      f"{rows[-1]['records_per_s']:9} records/s", flush=True)
    return rows
