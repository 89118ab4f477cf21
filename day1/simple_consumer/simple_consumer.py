"""A Kafka consumer in a consumer group: print the JSON messages of Kafka topics.

Usage: bash day1/simple_consumer/run.sh [PART] [--topics a,b] [--group GROUP]
           [--max-messages N] [--seconds S]

Topics come from --topics or env CONSUME_TOPICS (comma separated, default
test-topic); the broker from env KAFKA_SERVER (default localhost:9092). The consumer
joins the consumer group "Simple" and, for partitions the group has never read,
starts at the earliest offset. When the group deals its partitions out again (a
rebalance: a consumer joined or left) and this consumer's share changes, it prints the
partitions it now reads, `rebalance: group 'Simple' gave this consumer test-topic/0`.
Every message is printed with its address,
`test-topic/0/5: {...}` (topic/partition/offset). The messages are simple_producer's,
UTF-8 JSON {"time": <epoch ms>, "msg": "..."}; anything else is malformed (course README,
"What counts as malformed"): reported once with its address and what is wrong,
skipped and counted; the stream goes on. Without --max-messages or --seconds it runs
until Ctrl-C; it ends with FINAL {"messages": N, "malformed": N} (messages: all it
read, malformed ones included).
"""

import argparse
import json
import os
import sys
import time

from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topics", default=os.environ.get("CONSUME_TOPICS", "test-topic"),
                    help="comma-separated topics (default: $CONSUME_TOPICS or test-topic)")
parser.add_argument("--group", default="Simple", help="consumer group id (default Simple)")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
args = parser.parse_args()
topics = [t.strip() for t in args.topics.split(",") if t.strip()]

try:
    consumer = KafkaConsumer(
        bootstrap_servers=course.KAFKA_SERVER,
        bootstrap_timeout_ms=4000,
        # The group's committed offsets say where to resume. A group that has never
        # read a partition starts at its beginning ('earliest') instead of only new
        # messages ('latest', the default).
        group_id=args.group,
        auto_offset_reset="earliest",
        # We commit ourselves, after printing: a message counts as read once it is
        # shown, so a crash or Ctrl-C never skips a message that was not printed.
        enable_auto_commit=False,
    )
except KafkaError:
    course.exit_no_broker()

print(f"Consuming {topics} on {course.KAFKA_SERVER} as group '{args.group}' (Ctrl-C to stop)",
      flush=True)
messages = malformed = 0
done = {}  # partition -> offset of the next message to read: what we commit
committed = {}  # what the broker has of it


def commit_done(timeout_ms=None):
    # Commit exactly what was handled: poll() may have fetched more than we printed
    # (say Ctrl-C came mid-batch), and committing its position would skip those.
    if done != committed:
        consumer.commit({tp: OffsetAndMetadata(offset) for tp, offset in done.items()},
                        timeout_ms=timeout_ms)
        committed.update(done)


class ShowAssignment(ConsumerRebalanceListener):
    # A rebalance: a member joined or left the group, and the group deals its
    # partitions out again, each to one member. Called from poll().
    mine = None

    def on_partitions_revoked(self, revoked):
        for tp in revoked:  # no longer ours: the next owner resumes at the last commit
            done.pop(tp, None)

    def on_partitions_assigned(self, assigned):
        if assigned != self.mine:  # say what changed for this consumer
            self.mine = assigned
            names = ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(assigned))
            print(f"rebalance: group '{args.group}' gave this consumer {names or 'no partition (idle)'}",
                  flush=True)


for topic in topics:  # learn the topics' partitions first: a member that joins without
    consumer.partitions_for_topic(topic)  # knowing them is given none, then rejoins
consumer.subscribe(topics, listener=ShowAssignment())  # join the group, for these topics

deadline = time.monotonic() + args.seconds if args.seconds else None
try:
    while args.max_messages is None or messages < args.max_messages:
        if deadline and time.monotonic() >= deadline:
            break
        # poll() returns the records fetched since the last call, per partition, and
        # keeps the consumer alive in its group (heartbeats, partition assignment).
        wanted = args.max_messages - messages if args.max_messages else 100
        try:
            polled = consumer.poll(timeout_ms=500, max_records=wanted)
        except KafkaError as exc:  # the broker is away: say so once, wait, poll again; the
            course.wait_for_broker(exc)  # group resumes where it was once the broker is back
            continue
        for records in polled.values():
            for record in records:
                messages += 1
                done[TopicPartition(record.topic, record.partition)] = record.offset + 1
                try:  # the value's JSON object, if it has simple_producer's fields
                    value = course.parse_value(record.value, "message")
                except course.Malformed as why:
                    malformed += 1
                    course.skipped(record.topic, record.partition, record.offset, why)
                    continue
                print(f"{record.topic}/{record.partition}/{record.offset}: {json.dumps(value)}",
                      flush=True)
        try:
            commit_done()  # the group resumes after the last message handled
        except (RebalanceInProgressError, CommitFailedError):
            pass  # a rebalance is under way: whoever reads these partitions next reads
            # the uncommitted messages again (at-least-once), after the next poll()
        except KafkaError as exc:  # `done` keeps the offsets: committed at the next try
            course.wait_for_broker(exc)
except KeyboardInterrupt:
    print("\nCtrl-C: committing offsets ...", file=sys.stderr, flush=True)
finally:
    try:
        commit_done(timeout_ms=5000)  # a broker that is away gets 5 s, not the default 30
    except KafkaError as exc:
        print(f"warning: could not commit offsets ({exc!r}); they will be read again",
              file=sys.stderr)
    consumer.close(autocommit=False, timeout_ms=5000)
course.final({"messages": messages, "malformed": malformed})
