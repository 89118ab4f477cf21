"""A Kafka-to-socket bridge: brings Kafka messages into a Spark DStream.

Why it exists: PySpark's DStream API lost its Kafka connector in Spark 3 (the
Python `KafkaUtils` is gone). The DStream API can still read text lines from a TCP
socket (`ssc.socketTextStream`, the one behind the classic `nc -lk 9999` example),
so this bridge consumes a Kafka topic with kafka-python and writes each message to
such a socket, one line per message, prefixed with its address in Kafka:

    <topic>/<partition>/<offset> TAB <the message value, newlines made spaces>

    bridge = KafkaSocketBridge(topic, group_id="my_job").start()
    lines = ssc.socketTextStream(bridge.host, bridge.port)
    course.stop_stream_when_done(ssc, args, bridge)   # stops the bridge without loss

It listens on SPARK_LOCAL_IP (default 127.0.0.1), on a free port; nothing is
consumed until Spark's receiver connects. `bridge.forwarded` counts the lines
written so far; messages without a value (tombstones) are not forwarded. With
`max_messages=N` it forwards N messages, then keeps the socket open and idle (a
closed socket would make Spark restart its receiver).

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

from kafka import KafkaConsumer, TopicPartition

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
            consumer = KafkaConsumer(
                bootstrap_servers=self.server,
                group_id=self.group_id,        # whose committed offsets to start from
                auto_offset_reset="earliest",  # a new group starts at the beginning
                enable_auto_commit=False,      # we commit after writing, below
            )
            # Every partition of the topic, assigned rather than subscribed: one bridge
            # reads them all, so it needs no group membership (no joins, heartbeats or
            # rebalances to go wrong under load), only the group's committed offsets.
            partitions = self._wait_for_partitions(consumer)
            if partitions:
                consumer.assign(partitions)
            while partitions and not self._stopping.is_set():
                with self._busy:
                    self._forward_some(consumer, conn)
            consumer.close(autocommit=False)
        except OSError:
            # The receiver went away (Spark restarts it, or stops): do not commit what
            # may not have arrived; a new connection starts at the last commit.
            if consumer is not None:
                consumer.close(autocommit=False)
        finally:
            self._conn = None
            conn.close()

    def _wait_for_partitions(self, consumer):
        """The topic's partitions, once it exists (a producer may create it later)."""
        while not self._stopping.is_set():
            ids = consumer.partitions_for_topic(self.topic)
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
            return
        lines = [self._line(r) for r in records if r.value is not None]
        conn.sendall(b"".join(lines))
        self.forwarded += len(lines)
        consumer.commit()  # only now: the lines are written

    @staticmethod
    def _line(record):
        """A message as one UTF-8 line, "topic/partition/offset<TAB>value"; newlines
        inside the value become spaces."""
        text = record.value.decode("utf-8", errors="replace")
        text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
        return f"{record.topic}/{record.partition}/{record.offset}\t{text}\n".encode()
