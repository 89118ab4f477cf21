"""What survives a broker failure: kill -9 the leader of a partition while an
idempotent acks=all producer writes and a consumer group reads.

Usage: bash advanced/kafka_cluster/run.sh [PART] [--topic TOPIC]
           [--interval S] [--phase-seconds S] [--acks all|1]

The cluster: three brokers on this machine (bash infra/kafka.sh cluster start),
each also a voter of the KRaft controller quorum. The scenario:
1. a topic of 6 partitions, each on all 3 brokers (replication factor 3); a write
   needs min.insync.replicas=2 copies before the leader acknowledges it;
2. a producer sends numbered messages (acks=all, idempotent) and a group of two
   consumers reads them, committing after handling;
3. the broker that leads partition 0 is killed with kill -9. The controller fences
   it when its heartbeats stop (broker.session.timeout.ms, 9 s) and elects a new
   leader among the in-sync replicas (ISR); the producer retries meanwhile;
4. the broker is restarted: it catches up and rejoins the ISR;
5. the count: sent, acked, read, lost (acked, never read), duplicated (read twice).
The last line: RESULT {"sent": N, "acked": N, "read": N, "lost": 0, ...}.
The brokers: env KAFKA_SERVER (run.sh sets the cluster's three).
"""

import argparse
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

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default=time.strftime("failover-%H%M%S"), help="a new topic (failover-HHMMSS)")
parser.add_argument("--interval", type=float, default=0.01, help="seconds between messages (0.01)")
parser.add_argument("--phase-seconds", type=float, default=2, help="produce before the kill, while down (2)")
parser.add_argument("--acks", choices=["all", "1"], default="all", help="all (default) or 1 (not idempotent)")
args = parser.parse_args()
KAFKA_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../infra/kafka.sh")
start = time.monotonic()

# kafka-python logs every refused connection to the dead broker: count, don't print.
noise, counter = collections.Counter(), logging.Handler()
counter.emit = lambda r: noise.update([f"{r.name.removeprefix('kafka.')} {r.levelname.lower()}s"])
logging.getLogger("kafka").setLevel(logging.WARNING)
logging.getLogger("kafka").addHandler(counter)


def say(text):
    print(f"[{time.monotonic() - start:5.1f} s] {text}", flush=True)


def partitions():
    """Partition -> (leader, in-sync replicas), from the cluster's metadata."""
    while True:
        try:
            found = admin.describe_topics([args.topic])[0]["partitions"]
            return {p["partition_index"]: (p["leader_id"], sorted(p["isr_nodes"])) for p in found}
        except KafkaError:  # asked the dead broker: ask another
            time.sleep(0.5)


def show(when):
    cells = (f"{lead} ({','.join(map(str, isr))})" for _, (lead, isr) in sorted(partitions().items()))
    say(f"{when}: leader (in-sync replicas) of p0..p5: " + "  ".join(cells))


def wait_until(what, done, timeout=90):
    for i in range(timeout * 2):
        if done():
            return
        if i % 6 == 0:
            say(f"waiting until {what}: sent {sent}, acked {len(acked)}, read {len(reads)}")
        time.sleep(0.5)


try:
    admin = KafkaAdminClient(bootstrap_servers=course.KAFKA_SERVER, bootstrap_timeout_ms=4000,
                             request_timeout_ms=5000)
    admin.create_topics({args.topic: {"num_partitions": 6, "replication_factor": 3,
                                      "configs": {"min.insync.replicas": "2"}}}, wait_for_metadata=True)
    # acks="all": the leader answers once every in-sync replica has the message.
    # Idempotence: the broker drops a retried message it already has (needs acks=all).
    producer = KafkaProducer(bootstrap_servers=course.KAFKA_SERVER, bootstrap_timeout_ms=4000,
                             acks="all" if args.acks == "all" else 1, enable_idempotence=args.acks == "all",
                             key_serializer=str.encode, value_serializer=str.encode)
except KafkaError:
    course.exit_no_broker()

sent, acked, failed, commit_failures, reads = 0, {}, [], [], collections.Counter()
stop_producing, stop_reading = threading.Event(), threading.Event()
leader = killed = new_leader = None


def on_ack(n, sent_at, metadata):
    acked[n] = time.monotonic() - sent_at  # how long it waited for its acknowledgement


def produce():
    global sent
    while not stop_producing.is_set():
        future = producer.send(args.topic, key=str(sent + 1), value=str(sent + 1))
        future.add_callback(on_ack, sent + 1, time.monotonic()).add_errback(failed.append)
        sent += 1
        time.sleep(args.interval)


def consume():
    consumer = KafkaConsumer(args.topic, bootstrap_servers=course.KAFKA_SERVER, enable_auto_commit=False,
                             group_id=f"{args.topic}-readers", auto_offset_reset="earliest")
    while not stop_reading.is_set():
        batch = consumer.poll(timeout_ms=500)
        reads.update(int(r.value) for records in batch.values() for r in records)  # handle the batch
        if batch:
            try:
                consumer.commit()  # after handling: a crash re-reads at most this batch
            except KafkaError as exc:
                commit_failures.append(exc)
    consumer.close()


threads = [threading.Thread(target=produce)] + [threading.Thread(target=consume) for _ in range(2)]
for thread in threads:
    thread.start()
try:
    show("before")
    time.sleep(args.phase_seconds)
    leader = killed = partitions()[0][0]
    say(f"$ bash infra/kafka.sh cluster kill {killed}   (the leader of partition 0)")
    subprocess.run(["bash", KAFKA_SH, "cluster", "kill", str(killed)], check=True)
    wait_until(f"partition 0 has a new leader (not {killed})", lambda: partitions()[0][0] not in (killed, -1))
    new_leader = partitions()[0][0]
    show("during")
    time.sleep(args.phase_seconds)
    say(f"$ bash infra/kafka.sh cluster restart {killed}")
    subprocess.run(["bash", KAFKA_SH, "cluster", "restart", str(killed)], check=True)
    killed = None
    wait_until("every partition has 3 in-sync replicas",
               lambda: all(len(isr) == 3 for _, isr in partitions().values()))
    show("after")
    stop_producing.set()
    producer.flush(timeout=60)
    wait_until("the group has read every acknowledged message", lambda: reads.keys() >= acked.keys(), 60)
except KeyboardInterrupt:
    print("\nCtrl-C: stopping ..." + (f" broker {killed} stays down: bash infra/kafka.sh cluster restart "
                                      f"{killed}" if killed else ""), file=sys.stderr, flush=True)
finally:
    stop_producing.set()
    threads[0].join()
    producer.close(timeout=10)
    time.sleep(1)  # a message read twice would show up now
    stop_reading.set()
    for thread in threads[1:]:
        thread.join()
lost, duplicated = len(acked.keys() - reads.keys()), sum(count - 1 for count in reads.values())
slow = [s for s in acked.values() if s > 1]  # they waited for a new leader, or for the ISR to shrink
print(f"While broker {leader} was down: {len(slow)} acks took > 1 s (longest {max(slow, default=0):.1f} s);"
      f" {len(failed)} sends, {len(commit_failures)} commits failed; kafka-python's log (counted, not shown):"
      f" {dict(noise)}")
admin.delete_topics([args.topic])
admin.close()
print("RESULT " + json.dumps({"sent": sent, "acked": len(acked), "read": len(reads), "lost": lost,
                              "duplicated": duplicated, "leader_changed": new_leader not in (None, leader)}))
sys.exit(0 if lost == duplicated == 0 and len(acked) == sent else 1)
