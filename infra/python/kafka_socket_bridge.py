"""A Kafka-to-socket bridge: brings Kafka messages into a Spark DStream.

Why it exists: PySpark's DStream API lost its Kafka connector in Spark 3 (the
Python `KafkaUtils` is gone). The DStream API can still read text lines from a TCP
socket (`ssc.socketTextStream`, the one behind the classic `nc -lk 9999` example),
so this bridge consumes a Kafka topic with kafka-python and writes each message to
such a socket, one line per message:

    from kafka_socket_bridge import KafkaSocketBridge
    bridge = KafkaSocketBridge(topic, server=KAFKA_SERVER, group_id="my_job")
    # bound to 127.0.0.1 on a free port (bridge.port); nothing is consumed until
    # Spark's receiver connects
    bridge.start()      # background thread: Kafka -> one UTF-8 line per message
    lines = ssc.socketTextStream("127.0.0.1", bridge.port)
    ...
    bridge.count_received(ssc)  # before ssc.start(): count what Spark's batches receive
    ...
    bridge.drain(timeout_s=20)  # to stop without loss: no more lines, and wait until
    # Spark's batches hold every line written,
    ssc.stop(stopSparkContext=True, stopGraceFully=True)  # then a graceful stop
    bridge.stop()       # commits the offsets of what was written, closes everything

`bridge.forwarded` counts the lines written so far; `bridge.skipped` the messages
without a value (tombstones), which are not forwarded; `bridge.error` holds the
reason if the bridge thread gave up (for instance no broker). With
`max_messages=N` it forwards N messages, then keeps the socket open and idle (a
closed socket would make Spark restart its receiver).

Delivery semantics, honestly: NOT exactly once, and not even at least once.
- The consumer starts at the committed offsets of `group_id` (the earliest offset
  for a new group) and commits an offset only after the message's line has been
  written to the socket. "Written" means handed to the operating system: the line
  may still sit in the socket buffer or in the Spark receiver's memory, waiting
  for the next batch. If Spark crashes then, those lines are lost: their offsets
  are committed, yet no batch ever counted them.
- Stopping Spark stops its receiver first: lines written after that, or still
  unread in the socket, are lost the same way. Hence stop_forwarding() above: once
  Spark's batches hold every line written, a graceful stop counts every committed
  line.
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
SPARK_MASTER=local[1] nothing is left to process the batches. The bridge warns
about that when it starts (see warn_if_receiver_starves). The stack traces Spark's
socket receiver logs when it is stopped normally are silenced by the course's
logging settings (infra/spark-log4j2.properties).
"""

import logging
import os
import re
import socket
import sys
import threading
import time

from kafka import KafkaConsumer

KAFKA_SERVER = os.environ.get("KAFKA_SERVER", "localhost:9092")

_warned = False


def warn_if_receiver_starves(master=None):
    """Warn (once per process) when the Spark master has a single core: a DStream
    receiver holds one core, so with local[1] no batch is ever processed."""
    global _warned
    master = master or os.environ.get("SPARK_MASTER", "local[*]")
    if not _warned and re.fullmatch(r"local(\[1\])?", master.strip()):
        _warned = True
        print(
            f"warning: SPARK_MASTER={master} has one core, and the DStream receiver "
            "occupies it: no batch will be processed. Use local[2] or more (default local[*]).",
            file=sys.stderr,
        )


class KafkaSocketBridge:
    """Consume a Kafka topic and serve its messages, one line each, on a local socket."""

    def __init__(self, topic, server=KAFKA_SERVER, group_id="kafka_socket_bridge",
                 max_messages=None):
        self.topic = topic
        self.server = server
        self.group_id = group_id
        self.max_messages = max_messages
        self.forwarded = 0   # lines written to the socket
        self.skipped = 0     # messages without a value (not forwarded)
        self.error = None    # why the bridge thread stopped early, if it did
        self._stopping = threading.Event()
        self._no_more = threading.Event()  # stop_forwarding() was called
        self._busy = threading.Lock()      # held while lines are read, written, committed
        self._conn = None
        # Port 0: the operating system picks a free port; Spark connects to it.
        self._listener = socket.create_server(("127.0.0.1", 0))
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

    def count_received(self, ssc):
        """Call before ssc.start(): count, with a StreamingListener, the lines that
        Spark's batches receive, so that drain() knows when all lines are in."""
        from pyspark.streaming.listener import StreamingListener

        class ReceivedLines(StreamingListener):
            """Spark reports every batch it submits, with the number of lines in it."""

            def __init__(self):
                self.lines = 0

            def onBatchSubmitted(self, batchSubmitted):
                self.lines += batchSubmitted.batchInfo().numRecords()

        self.received = ReceivedLines()
        ssc.addStreamingListener(self.received)

    def drain(self, timeout_s):
        """Before a graceful ssc.stop(): write no more lines, and wait (at most
        timeout_s) until Spark's batches hold every line written (needs
        count_received). Stopping Spark stops its receiver first, so a line still in
        the socket or the receiver would be lost although its offset is committed.
        Returns the number of lines written."""
        written = self.stop_forwarding()
        deadline = time.monotonic() + timeout_s
        while self.received.lines < written and time.monotonic() < deadline:
            time.sleep(0.2)
        return written

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
                self.topic,
                bootstrap_servers=self.server,
                group_id=self.group_id,
                auto_offset_reset="earliest",  # a new group starts at the beginning
                enable_auto_commit=False,      # we commit after writing, below
            )
            while not self._stopping.is_set():
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
        lines = [self._line(r.value) for r in records if r.value is not None]
        self.skipped += len(records) - len(lines)
        conn.sendall(b"".join(lines))
        self.forwarded += len(lines)
        consumer.commit()  # only now: the lines are written

    @staticmethod
    def _line(value):
        """A message value as one UTF-8 line: newlines inside become spaces."""
        text = value.decode("utf-8", errors="replace")
        return (text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ") + "\n").encode()
