"""Solution: the newest value per key of a keyed topic (README exercise 2).

Usage: bash day2/live_dashboard/run.sh solutions/latest_windows.py [--topic test-windows]
    [--group latest-windows] [--max-messages N] [--seconds S]

day2/windowed_sum writes every update of a window to test-windows, keyed by the
window's start: the same key comes again each time the window's count changes. Read
from the beginning, keeping the newest value of each key, the topic becomes a table:
one row per window, its latest count. That is what Kafka's log compaction
(cleanup.policy=compact) keeps on disk, and what a dashboard draws.

It reads every partition from its beginning (assign + seek: a table is rebuilt from the
whole log each time), in the consumer group --group only to commit what it read, after
reading it (`bash infra/kafka.sh consumer-groups --describe --group latest-windows`
shows how far it got). It stops after --max-messages or --seconds, or when it has
reached the end of the topic and nothing new came for 3 s, then prints the table.
Ends with FINAL {"messages": N, "malformed": N, "windows": [[start, end, count], ...]}.
"""

import argparse
import json
import time

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="test-windows", help="the keyed topic (default test-windows)")
parser.add_argument("--group", default="latest-windows", help="consumer group id (default latest-windows)")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
args = parser.parse_args()

try:
    consumer = KafkaConsumer(bootstrap_servers=course.KAFKA_SERVER, bootstrap_timeout_ms=4000,
                             group_id=args.group, enable_auto_commit=False)
    exists = args.topic in consumer.topics()  # (asking for a missing topic's partitions would create it)
except KafkaError:
    course.exit_no_broker()
if not exists:
    raise SystemExit(f"error: no topic {args.topic!r}. Fix: start bash day2/windowed_sum/run.sh events "
                     "(it writes the windows), or name another --topic")
partitions = [TopicPartition(args.topic, p) for p in sorted(consumer.partitions_for_topic(args.topic))]
consumer.assign(partitions)
consumer.seek_to_beginning()  # the whole log: the table is rebuilt from it

table, stats = {}, {"messages": 0, "malformed": 0}  # table: key -> the newest value
deadline = time.monotonic() + args.seconds if args.seconds else None
quiet_since = time.monotonic()
while stats["messages"] != args.max_messages and not (deadline and time.monotonic() >= deadline):
    batch = consumer.poll(timeout_ms=500, max_records=(args.max_messages or 10**9) - stats["messages"])
    for records in batch.values():
        for r in records:
            stats["messages"] += 1
            try:
                value = json.loads(r.value)
                window = (value["start"], value["end"], value["count"]) if r.key != b"watermark" else None
            except (TypeError, ValueError, KeyError) as exc:  # no value, not JSON, a field missing
                stats["malformed"] += 1
                course.skipped(r.topic, r.partition, r.offset, f"not a window ({exc!r})")
                continue
            if window:
                table[r.key] = window  # a newer message of the same key replaces the older one
    if batch:
        consumer.commit({tp: OffsetAndMetadata(consumer.position(tp)) for tp in partitions})
        quiet_since = time.monotonic()
    elif (args.max_messages is None and time.monotonic() - quiet_since > 3
          and all(consumer.position(tp) >= end for tp, end in consumer.end_offsets(partitions).items())):
        break  # the end of the topic, and nothing new: the table is complete
consumer.close(autocommit=False)

windows = sorted(table.values())
print(f"{stats['messages']} messages, {len(windows)} windows: the newest count of each")
for start, end, count in windows:
    print(f"    {course.hms(start)}-{course.hms(end)}  {count:4d} messages")
course.final(stats, windows=[list(w) for w in windows])
