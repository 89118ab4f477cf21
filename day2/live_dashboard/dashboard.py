"""A live dashboard of the course's streams: Kafka topics drawn in the browser by a
Bokeh server.

Usage: bash day2/live_dashboard/run.sh [--port 5006] [--group dashboard]
    [--messages-topic test-topic] [--trendy-topic trendy-topic] [--tweets-topic tweets]
    [--windows-topic test-windows] [--model-topic trendy-model]
    [--starting-offsets earliest] [--seconds S] [--max-messages N]

Open http://localhost:5006 in a browser. Four panels move as messages arrive, without
reloading the page: messages per second on the input topics; the event-time windows
that day2/windowed_sum writes back to Kafka (a bar per window, the watermark as a
line, late rows dropped as red marks); day2/trendy_prices' true and learned weights;
and the error of the learning model against a frozen one.

Two threads share the work:
- a Kafka consumer polls the five topics, in the consumer group --group, and once a
  second hands what it read to every open page;
- Bokeh's server (Tornado's event loop, on the main thread) owns the pages: one Bokeh
  document per browser tab, kept in sync with the browser over a websocket.
A document may be changed only on the server's thread. So the consumer never touches
one: it calls doc.add_next_tick_callback(f), Bokeh's one thread-safe call, and f runs
on the server's thread at its next turn. f streams the new points: source.stream(new,
rollover=N) sends only them to the browser, and the page keeps the newest N.

Offsets: the consumer commits what it has handed to the pages, after handing it: a
restarted dashboard resumes there. A partition the group has never read starts at
--starting-offsets: earliest (the default: the windows and the model so far, and a
topic made after the dashboard started from its first message), or latest. The rate
panel counts the messages made in the last 10 s (their Kafka timestamp): a backlog the
dashboard reads at its start is not a burst of traffic. A malformed message is
reported on stderr, counted, shown on the page, and skipped. Binds 127.0.0.1 only (--address); only pages
it serves may open its websocket. A bounded run ends with
FINAL {"messages": N, "malformed": N, "pages": N}.
"""

import argparse
import collections
import logging
import re
import sys
import threading
import time
import traceback
from functools import partial

from bokeh.server.server import Server
from formats import Update, parse
from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError
from panels import Page

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=5006, help="the page's port (default 5006)")
parser.add_argument("--address", default="127.0.0.1", help="the address to bind (default 127.0.0.1)")
parser.add_argument("--group", default="dashboard", help="consumer group id (default dashboard)")
parser.add_argument("--messages-topic", default="test-topic", help="simple_producer's (test-topic)")
parser.add_argument("--trendy-topic", default="trendy-topic", help="trendy_prices' (trendy-topic)")
parser.add_argument("--tweets-topic", default="tweets", help="twitter_cluster's (tweets)")
parser.add_argument("--windows-topic", default="test-windows", help="windowed_sum's output (test-windows)")
parser.add_argument("--model-topic", default="trendy-model", help="trendy_prices' output (trendy-model)")
parser.add_argument("--starting-offsets", choices=["earliest", "latest"], default="earliest",
                    help="where the group starts on a partition it has never read (default earliest)")
parser.add_argument("--seconds", type=float, help="stop after S seconds")
parser.add_argument("--max-messages", type=int, help="stop after N messages")
args = parser.parse_args()
ROLES = ("messages", "trendy", "tweets", "windows", "model")
TOPICS = {role: getattr(args, f"{role}_topic") for role in ROLES}
ROLE = {topic: role for role, topic in TOPICS.items()}
INPUTS = [TOPICS["messages"], TOPICS["trendy"], TOPICS["tweets"]]
HINTS = {"messages": "start bash day1/simple_producer/run.sh",
         "trendy": "start bash day2/trendy_prices/run.sh",
         "tweets": "start bash day2/twitter_cluster/run.sh producer",
         "windows": "start bash day2/windowed_sum/run.sh events (and the producer of test-topic)",
         "model": "start bash day2/trendy_prices/run.sh structured (and its producer)"}

course.check_broker()  # no broker: the course's one line, within 10 s
try:
    consumer = KafkaConsumer(
        bootstrap_servers=course.KAFKA_SERVER, bootstrap_timeout_ms=4000,
        group_id=args.group, auto_offset_reset=args.starting_offsets,
        enable_auto_commit=False,  # we commit what the pages have got, after handing it to them
        metadata_max_age_ms=5000,  # a topic created later (trendy-model) is read within seconds
    )
except KafkaError:
    course.exit_no_broker()


# The group gives this consumer the topics' partitions. A pattern, not a list: a consumer
# subscribed to a topic that does not exist yet would make the broker create it (with one
# partition: tweets wants three); a pattern matches the topics once their producers made them.
consumer.subscribe(pattern="^(" + "|".join(re.escape(topic) for topic in TOPICS.values()) + ")$")
pages, history, lock = [], collections.deque(maxlen=600), threading.Lock()  # history: the last 600 s
stats = {"messages": 0, "malformed": 0, "pages": 0}
stop = course.stop_on_ctrl_c()  # an Event: Ctrl-C sets it (a second Ctrl-C exits at once)
# A closed tab's last updates fail to send until Bokeh frees its document: not worth a line each.
logging.getLogger("bokeh.server.views.ws").setLevel(logging.ERROR)


def make_page(doc):
    """Bokeh calls this, on the server's thread, for every new browser tab."""
    page = Page(doc, TOPICS, HINTS)
    with lock:  # the last minutes first, then every new update
        for update in history:
            page.apply(update)
        pages.append(page)
        stats["pages"] += 1


def consume():
    """The consumer thread: a second's worth of records at a time, handed to the pages."""
    start, done, assigned = time.monotonic(), {}, set()  # done: partition -> the next offset to read
    try:
        while not stop.is_set():
            read_a_second(update := Update(INPUTS), done)
            if consumer.assignment() != assigned:  # a topic came (or went): say what is read from where
                assigned = consumer.assignment()
                print("reading " + ", ".join(f"{tp.topic}/{tp.partition} (at offset {consumer.position(tp)})"
                                             for tp in sorted(assigned)), flush=True)
            with lock:
                history.append(update)
                for page in list(pages):
                    try:  # Bokeh's one thread-safe call: the page changes on the server's thread
                        page.doc.add_next_tick_callback(partial(page.apply, update))
                    except (AttributeError, RuntimeError):  # its tab was closed: Bokeh destroyed its document
                        pages.remove(page)
            try:  # handed to the pages: the group resumes after them
                consumer.commit({tp: OffsetAndMetadata(offset) for tp, offset in done.items()})
            except KafkaError as exc:  # say, the group rebalances as a new topic appears: next second
                print(f"warning: offsets not committed yet ({exc!r})", file=sys.stderr, flush=True)
            if stats["messages"] == args.max_messages or time.monotonic() - start >= (args.seconds or 1e12):
                stop.set()
    except KafkaError as exc:
        print(f"error: the Kafka consumer stopped: {exc!r}", file=sys.stderr, flush=True)
    except Exception:  # a bug: say where before the page stops
        traceback.print_exc()
    finally:
        consumer.close(autocommit=False)
        server.io_loop.add_callback(server.io_loop.stop)  # thread-safe: the server stops on its thread


def read_a_second(update, done):
    """Poll for a second (or up to --max-messages); sort what came into the update."""
    second, recent = time.monotonic() + 1, time.time() * 1000 - 10_000  # made in the last 10 s
    while time.monotonic() < second and stats["messages"] != args.max_messages:
        for records in consumer.poll(timeout_ms=200).values():
            for r in records[:(args.max_messages or sys.maxsize) - stats["messages"]]:
                stats["messages"] += 1
                done[TopicPartition(r.topic, r.partition)] = r.offset + 1
                if r.topic in INPUTS and r.timestamp >= recent:
                    update.rate[r.topic][0] += 1  # malformed or not, a message is traffic
                try:
                    update.add(ROLE[r.topic], parse(r.value, ROLE[r.topic]), r.timestamp)
                except ValueError as why:
                    stats["malformed"] += 1
                    update.malformed[r.topic] += 1
                    course.skipped(r.topic, r.partition, r.offset, str(why))


try:  # the Bokeh server, on this machine only; its websocket only for pages it served
    server = Server({"/": make_page}, address=args.address, port=args.port,
                    allow_websocket_origin=[f"localhost:{args.port}", f"127.0.0.1:{args.port}"],
                    check_unused_sessions_milliseconds=2000, unused_session_lifetime_milliseconds=5000)
except OSError:
    sys.exit(f"error: port {args.port} (the dashboard) is already taken by {course.port_user(args.port)}. "
             f"Fix: stop that program, or choose another port: --port {args.port + 1}")
server.start()
print(f"Dashboard: http://localhost:{args.port}/  (Kafka {course.KAFKA_SERVER}, group {args.group!r}; "
      "Ctrl-C stops)", flush=True)
threading.Thread(target=consume, name="kafka-consumer", daemon=True).start()
server.io_loop.start()  # serve the pages until the consumer thread stops the loop
server.stop()
course.final(stats)
