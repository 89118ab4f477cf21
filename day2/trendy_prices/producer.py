"""Trendy prices, producer side: a regression problem whose true answer drifts.

Usage: bash day2/trendy_prices/run.sh [producer] [--topic TOPIC] [--interval S]
    [--count N] [--seed S] [--noise SD] [--time-scale K]

Every --interval seconds one message of 10 rows goes to trendy-topic. Each row has
5 features drawn from U[0,1). The true weights grow with time,

    w(t) = (t + 1) * W * 0.01      t = seconds since this producer started,
                                   W = rand(5) - 0.5, fixed for the run (--seed)

so a model fitted once goes stale: that is the point of learning on a stream.
Each row is "known" with probability 0.5; known rows carry their label
dot(w(t), x) plus Gaussian noise (--noise), unknown rows carry none (a streaming
model should predict those). Message (UTF-8 JSON):

    {"t": 12.0, "true_weights": [5 floats],
     "rows": [{"x": [5 floats], "known": true, "label": 0.0123},
              {"x": [5 floats], "known": false, "label": null}, ...]}

"true_weights" is w(t), for you to compare with what your model learned.
--time-scale K makes the drift K times faster (t = K * seconds), for quick demos.
Without --count it runs until Ctrl-C; either way it flushes before it exits and
ends with FINAL {"delivered": N, "failed": N}.
"""

import argparse
import json
import sys
import time

import numpy as np
from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

import course

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--topic", default="trendy-topic", help="topic to write (trendy-topic)")
parser.add_argument("--interval", type=float, default=5.0, help="seconds between messages (5)")
parser.add_argument("--count", type=int, help="send N messages, flush, exit")
parser.add_argument("--rows", type=int, default=10, help="rows per message (10)")
parser.add_argument("--seed", type=int, help="seed for W and the rows (default: random)")
parser.add_argument("--noise", type=float, default=0.01, help="label noise std. dev. (0.01)")
parser.add_argument("--time-scale", type=float, default=1.0,
                    help="drift K times faster: t = K * seconds since start (1)")
args = parser.parse_args()

try:
    producer = KafkaProducer(
        bootstrap_servers=course.KAFKA_SERVER,
        bootstrap_timeout_ms=4000,
        # How long a message may wait for the broker's acknowledgement, retries included,
        # before its errback reports it failed (idempotent: a resend never doubles it).
        delivery_timeout_ms=course.DELIVERY_TIMEOUT_MS,
        value_serializer=lambda value: json.dumps(value).encode("utf-8"),
    )
except KafkaError:
    course.exit_no_broker()

rng = np.random.default_rng(args.seed)
W = rng.random(5) - 0.5  # the direction of the drift, fixed for this run
print(f"W = {np.round(W, 4).tolist()}   w(t) = (t + 1) * W * 0.01", flush=True)
start = time.monotonic()


def make_message():
    t = args.time_scale * (time.monotonic() - start)
    w = (t + 1) * W * 0.01  # the true weights right now
    rows = []
    for x in rng.random((args.rows, 5)):
        known = bool(rng.random() < 0.5)
        label = float(w @ x + rng.normal(0.0, args.noise)) if known else None
        rows.append({"x": x.tolist(), "known": known, "label": label})
    return {"t": round(t, 3), "true_weights": w.tolist(), "rows": rows}


outcome = {"delivered": 0, "failed": 0}


def delivered(message, metadata):
    # Called once the broker has acknowledged the message: it now has an address.
    outcome["delivered"] += 1
    known = sum(row["known"] for row in message["rows"])
    print(f"delivered to {metadata.topic}/{metadata.partition}/{metadata.offset}: "
          f"t={message['t']:.2f}  w={np.round(message['true_weights'], 4).tolist()}  "
          f"{known} known / {len(message['rows'])} rows", flush=True)


def failed(message, exc):
    outcome["failed"] += 1
    print(f"delivery failed (t={message['t']:.2f}): {exc}", file=sys.stderr, flush=True)


sent, ctrl_c = 0, False
try:
    while args.count is None or sent < args.count:
        message = make_message()
        # send() only buffers the message; the callbacks report the broker's answer.
        producer.send(args.topic, message).add_callback(delivered, message).add_errback(failed, message)
        sent += 1
        if args.count is None or sent < args.count:
            time.sleep(args.interval)
except KafkaTimeoutError:  # send() waited max_block_ms (60 s) for the topic's metadata:
    course.not_sent()       # no broker answers. Stop here: that message counts as failed
except KeyboardInterrupt:
    ctrl_c = True
    print("\nCtrl-C: flushing what was sent ...", file=sys.stderr, flush=True)
finally:
    # Without flush(), buffered messages would be lost. course.flush() calls
    # producer.flush(); after Ctrl-C it waits a few seconds at most for the broker.
    course.flush(producer, ctrl_c)
    producer.close()
sys.exit(course.producer_final(**outcome))
