"""A Kafka-to-socket bridge: brings Kafka messages into a Spark DStream.

Why it exists: PySpark's DStream API lost its Kafka connector in Spark 3 (the
Python `KafkaUtils` is gone). The DStream API can still read text lines from a TCP
socket (`ssc.socketTextStream`, the one behind the classic `nc -lk 9999` example),
so this bridge consumes a Kafka topic with kafka-python and writes each message to
such a socket, one line per message, prefixed with its address in Kafka:

    <topic>/<partition>/<offset> TAB <the message value, its line breaks made TABs>
    <topic>/<partition>/<offset> SPACE <what is wrong>   (a value that is not text)

(JSON reads a TAB where it reads a line break, and allows neither inside a string, so
a value is exactly as well-formed on the line as in Kafka.) A value that is not text
cannot be a line: a tombstone (no value) and bytes that are not UTF-8 come as their
address and what is wrong, "test-topic/0/7 no value (a tombstone)". course.parse_line()
reads both forms.

    bridge = KafkaSocketBridge(topic, group_id="my_job").start()
    lines = ssc.socketTextStream(bridge.host, bridge.port)
    course.stop_stream_when_done(ssc, args, bridge)   # stops the bridge without loss

It listens on SPARK_LOCAL_IP (default 127.0.0.1), on a free port; nothing is
consumed until Spark's receiver connects. `bridge.forwarded` counts the lines
written so far: one per message, whatever its value. With `max_messages=N` it forwards
N messages, then keeps the socket open and idle (a closed socket would make Spark
restart its receiver).

Delivery semantics, honestly: NOT exactly once, and not even at least once.
- The consumer starts at the committed offsets of `group_id` (the earliest offset
  for a new group) and commits an offset only after the message's line has been
  written to the socket. "Written" means handed to the operating system: the line
  may still sit in the socket buffer or in the Spark receiver's memory, waiting
  for the next batch. If Spark crashes then, those lines are lost: their offsets
  are committed, yet no batch ever counted them.
- A normal stop loses nothing: course.stop_stream_when_done() calls
  stop_forwarding() and waits until Spark's batches have processed every line
  written before it stops Spark.
- If the bridge (the driver process) dies between writing lines and committing
  their offsets, the next run sends those lines again: counted twice.
- If Spark's receiver disconnects, the bridge closes its consumer without
  committing and, when the receiver reconnects, starts again at the last commit.
- If the broker goes away, the bridge says so in one line and waits for it: it
  goes on from where it was once the broker is back (nothing lost or doubled). A
  commit that failed meanwhile is made with the next one; if the run stops before
  that, a warning says that the next run will read those lines again.
Structured Streaming does not have these problems: its Kafka source reads the
offsets itself and writes them, with the state, to the query's checkpoint, so a
restarted query repeats exactly the unfinished micro-batch (see
day2/simple_structuredstreaming). The bridge is a teaching device for the DStream
API, not a pattern for production.

A DStream receiver occupies one core for as long as the stream runs: with
SPARK_MASTER=local[1] nothing is left to process the batches until the stream stops.
The bridge warns about that when it starts.
"""

import logging
import os
import re
import socket
import sys
import threading
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

import course

KAFKA_SERVER = os.environ.get("KAFKA_SERVER", "localhost:9092")

_warned = False


def warn_if_receiver_starves(master=None):
    """Whether the Spark master has a single core, which a DStream receiver holds for
    as long as it runs: then no batch runs before the stream stops. Says so once per
    process."""
    global _warned
    master = master or os.environ.get("SPARK_MASTER", "local[*]")
    starves = re.fullmatch(r"local(\[1\])?", master.strip()) is not None
    if starves and not _warned:
        _warned = True
        print(
            f"warning: SPARK_MASTER={master} has one core, and the DStream receiver "
            "occupies it: no batch runs until the stream stops (they queue up, then run). "
            "Use local[2] or more (default local[*]).",
            file=sys.stderr,
        )
    return starves


class KafkaSocketBridge:
    """Consume a Kafka topic and serve its messages, one line each, on a local socket."""

    def __init__(self, topic, server=KAFKA_SERVER, group_id="kafka_socket_bridge",
                 max_messages=None):
        """Bind the socket now (so that bridge.port is known); start() begins serving."""
        self.topic = topic
        self.server = server
        self.group_id = group_id
        self.max_messages = max_messages
        self.forwarded = 0   # lines written to the socket
        self.error = None    # why the bridge thread stopped early, if it did
        self._stopping = threading.Event()
        self._no_more = threading.Event()  # stop_forwarding() was called
        self._busy = threading.Lock()      # held while lines are read, written, committed
        self._conn = None
        self._uncommitted = False          # lines written whose commit failed (broker away)
        self._away_since = None            # when the broker stopped answering, if it has
        # Port 0: the operating system picks a free port; Spark connects to it.
        self.host = os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")
        self._listener = socket.create_server((self.host, 0))
        self._listener.settimeout(0.5)  # so that the thread notices stop() while waiting
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name="kafka-socket-bridge",
                                        daemon=True)

    def start(self):
        warn_if_receiver_starves()
        self._thread.start()
        return self

    def stop_forwarding(self):
        """Write no more lines (the socket stays open); return the final `forwarded`.
        The lines already written are committed."""
        self._no_more.set()
        with self._busy:  # let a write under way finish and commit
            return self.forwarded

    def stop(self, timeout_s=10.0):
        """Stop forwarding, commit the offsets of the lines written, close the socket."""
        self._stopping.set()
        self._thread.join(timeout_s / 2)
        if self._thread.is_alive() and self._conn is not None:
            # Blocked writing to a receiver that no longer reads: unblock it.
            self._conn.shutdown(socket.SHUT_RDWR)
            self._thread.join(timeout_s / 2)
        self._listener.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- the bridge thread -------------------------------------------------------

    def _run(self):
        logging.getLogger("kafka").setLevel(logging.ERROR)  # kafka-python is chatty
        try:
            while not self._stopping.is_set():
                conn = self._accept()
                if conn is None:
                    break
                self._serve(conn)
        except Exception as exc:  # e.g. no broker: say it in one line, do not crash Spark
            self.error = f"{type(exc).__name__}: {exc}"
            print(f"error: Kafka-to-socket bridge stopped: {self.error}", file=sys.stderr)

    def _accept(self):
        """Wait for Spark's receiver to connect; None if stop() came first."""
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
                return conn
            except TimeoutError:
                continue
        return None

    def _serve(self, conn):
        """Forward messages to one connection until stop() or until it breaks."""
        self._conn = conn
        consumer = None
        try:
            while consumer is None and not self._stopping.is_set():
                try:
                    consumer = KafkaConsumer(
                        bootstrap_servers=self.server,
                        bootstrap_timeout_ms=5000,     # no broker: try again (below)
                        group_id=self.group_id,        # whose committed offsets to start from
                        auto_offset_reset="earliest",  # a new group starts at the beginning
                        enable_auto_commit=False,      # we commit after writing, below
                    )
                except KafkaError as exc:  # no broker (yet, or any more): wait for it
                    self._broker_away(exc)
            if consumer is None:
                return
            # Every partition of the topic, assigned rather than subscribed: one bridge
            # reads them all, so it needs no group membership (no joins, heartbeats or
            # rebalances to go wrong under load), only the group's committed offsets.
            partitions = self._wait_for_partitions(consumer)
            if partitions:
                consumer.assign(partitions)
            while partitions and not self._stopping.is_set():
                with self._busy:
                    try:
                        self._forward_some(consumer, conn)
                    except KafkaError as exc:  # the broker is away: poll again once it is back
                        self._broker_away(exc)
            self._commit_before_close(consumer)
            consumer.close(autocommit=False, timeout_ms=5000)
        except OSError:
            # The receiver went away (Spark restarts it, or stops): do not commit what
            # may not have arrived; a new connection starts at the last commit.
            if consumer is not None:
                consumer.close(autocommit=False)
        finally:
            self._conn = None
            conn.close()

    def _broker_away(self, exc):
        """A retriable error (the broker is away or restarting): say so once, pause."""
        if not getattr(exc, "retriable", False):
            raise exc
        if self._away_since is None:
            self._away_since = time.monotonic()
            print(f"the broker on {self.server} does not answer ({type(exc).__name__}): the "
                  "Kafka-to-socket bridge waits for it to come back (nothing is lost) ...",
                  file=sys.stderr, flush=True)
        self._stopping.wait(1.0)

    def _broker_back(self):
        if self._away_since is not None:
            print(f"the broker on {self.server} answers again (after "
                  f"{time.monotonic() - self._away_since:.0f} s): the bridge goes on",
                  file=sys.stderr, flush=True)
            self._away_since = None

    def _commit_before_close(self, consumer):
        """A commit that failed while the broker was away: one more try, or a warning."""
        if self._uncommitted:
            try:
                consumer.commit(timeout_ms=5000)
                self._uncommitted = False
            except KafkaError as exc:
                print(f"warning: the bridge could not commit the offsets of its last lines "
                      f"({type(exc).__name__}: the broker is away): the next run reads them again",
                      file=sys.stderr, flush=True)

    def _wait_for_partitions(self, consumer):
        """The topic's partitions, once it exists (a producer may create it later)."""
        while not self._stopping.is_set():
            try:
                ids = consumer.partitions_for_topic(self.topic)
            except KafkaError as exc:
                self._broker_away(exc)
                continue
            if ids:
                return [TopicPartition(self.topic, p) for p in sorted(ids)]
            self._stopping.wait(0.5)
        return []

    def _forward_some(self, consumer, conn):
        """Poll Kafka once, write the messages as lines, then commit their offsets."""
        remaining = None
        if self.max_messages is not None:
            remaining = self.max_messages - self.forwarded
        if self._no_more.is_set() or (remaining is not None and remaining <= 0):
            self._stopping.wait(0.2)  # done: keep the socket open, forward nothing
            return
        batch = consumer.poll(timeout_ms=200, max_records=remaining)
        records = [r for part in batch.values() for r in part]
        if not records:
            if self._uncommitted:  # a commit failed while the broker was away: again
                consumer.commit()
                self._uncommitted = False
            return
        self._broker_back()
        lines = [self._line(r) for r in records]
        conn.sendall(b"".join(lines))
        self.forwarded += len(lines)
        self._uncommitted = True
        consumer.commit()  # only now: the lines are written
        self._uncommitted = False

    @staticmethod
    def _line(record):
        """A message as one UTF-8 line, "topic/partition/offset<TAB>value" (line breaks
        inside the value become TABs), or "topic/partition/offset<SPACE>why" for a value
        that is not text."""
        address = f"{record.topic}/{record.partition}/{record.offset}"
        try:
            text = course.text_of(record.value)
        except course.Malformed as why:
            return f"{address} {why}\n".encode()
        text = text.replace("\r", "\t").replace("\n", "\t")  # JSON reads the three alike
        return f"{address}\t{text}\n".encode()
