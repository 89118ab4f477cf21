"""advanced/kafka_cluster's failover, against docker-compose.yml's three brokers
(profile "cluster"): a topic of 6 partitions on all 3 brokers (min.insync.replicas=2);
an idempotent acks=all producer writes numbered messages while the leader of
partition 0 is killed (docker compose kill: SIGKILL) and later started again; then a
consumer reads the topic. Nothing acknowledged may be lost, nothing read twice.

Usage: .venv/bin/python tests/docker/cluster_failover.py   (ports: KAFKA_CLUSTER_PORT_1..3)
The last line: RESULT {"sent", "acked", "read", "lost", "duplicated", "killed", "leader_changed"}.
"""

import collections
import json
import logging
import os
import subprocess
import sys
import threading
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

logging.getLogger("kafka").setLevel(logging.CRITICAL)  # refused connections to the dead broker
ports = [os.environ.get(f"KAFKA_CLUSTER_PORT_{n}", str(19191 + n)) for n in (1, 2, 3)]
servers = [f"localhost:{p}" for p in ports]
topic = f"docker-failover-{int(time.time())}"
compose = ["docker", "compose", "--profile", "cluster"]
start = time.monotonic()


def say(text):
    print(f"[{time.monotonic() - start:5.1f} s] {text}", flush=True)


admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=5000)
admin.create_topics({topic: {"num_partitions": 6, "replication_factor": 3,
                             "configs": {"min.insync.replicas": "2"}}}, wait_for_metadata=True)


def partitions():
    """Partition -> (leader, in-sync replicas)."""
    while True:
        try:
            found = admin.describe_topics([topic])[0]["partitions"]
            return {p["partition_index"]: (p["leader_id"], sorted(p["isr_nodes"])) for p in found}
        except KafkaError:
            time.sleep(0.5)


def wait_until(what, done, timeout=120):
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting until {what}")
        time.sleep(0.5)
    say(what)


producer = KafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=True,
                         value_serializer=str.encode)
sent, acked, stop = 0, set(), threading.Event()


def produce():
    global sent
    while not stop.is_set():
        sent += 1
        producer.send(topic, str(sent)).add_callback(lambda _, n=sent: acked.add(n))
        time.sleep(0.01)


thread = threading.Thread(target=produce)
thread.start()
time.sleep(2)
leader = partitions()[0][0]
say(f"docker compose kill broker-{leader}   (the leader of partition 0); before: {partitions()}")
subprocess.run([*compose, "kill", f"broker-{leader}"], check=True, capture_output=True)
wait_until("partition 0 has a new leader", lambda: partitions()[0][0] not in (leader, -1))
new_leader = partitions()[0][0]
time.sleep(2)
say(f"docker compose start broker-{leader}; during: {partitions()}")
subprocess.run([*compose, "start", f"broker-{leader}"], check=True, capture_output=True)
wait_until("every partition has 3 in-sync replicas again",
           lambda: all(len(isr) == 3 for _, isr in partitions().values()))
stop.set()
thread.join()
producer.flush(timeout=60)
producer.close()

reads = collections.Counter()
consumer = KafkaConsumer(topic, bootstrap_servers=servers, group_id=f"{topic}-readers",
                         auto_offset_reset="earliest", consumer_timeout_ms=10000)
for record in consumer:
    reads[int(record.value)] += 1
    if reads.keys() >= acked and len(reads) >= len(acked):
        break
consumer.close()
admin.delete_topics([topic])
admin.close()
lost = len(acked - reads.keys())
duplicated = sum(c - 1 for c in reads.values())
print("RESULT " + json.dumps({"sent": sent, "acked": len(acked), "read": len(reads), "lost": lost,
                              "duplicated": duplicated, "killed": leader,
                              "leader_changed": new_leader != leader}))
sys.exit(0 if lost == duplicated == 0 and len(acked) == sent and new_leader != leader else 1)
