"""Trendy prices, producer side: a regression problem whose true answer drifts.

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

Usage:
    bash day2/trendy_prices/run.sh producer [--interval 5] [--count N] [--seed S]
        [--noise 0.01] [--time-scale 1] [--topic trendy-topic]

Without --count it runs until Ctrl-C. Env KAFKA_SERVER: the broker (localhost:9092).
"""

import argparse
import json
import logging
import os
import sys
import time

import numpy as np
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

KAFKA_SERVER = os.environ.get("KAFKA_SERVER", "localhost:9092")

parser = argparse.ArgumentParser(description="Send rows labelled by drifting true weights.")
parser.add_argument("--topic", default="trendy-topic", help="topic to write (trendy-topic)")
parser.add_argument("--interval", type=float, default=5.0, help="seconds between messages (5)")
parser.add_argument("--count", type=int, help="send N messages, flush, exit")
parser.add_argument("--rows", type=int, default=10, help="rows per message (10)")
parser.add_argument("--seed", type=int, help="seed for W and the rows (default: random)")
parser.add_argument("--noise", type=float, default=0.01, help="label noise std. dev. (0.01)")
parser.add_argument("--time-scale", type=float, default=1.0,
                    help="drift K times faster: t = K * seconds since start (1)")
args = parser.parse_args()
logging.getLogger("kafka").setLevel(logging.CRITICAL)  # we report failures ourselves

try:
    producer = KafkaProducer(
        bootstrap_servers=KAFKA_SERVER,
        value_serializer=lambda value: json.dumps(value).encode("utf-8"),
        bootstrap_timeout_ms=4000,  # kafka-python 3: KafkaTimeoutError after 5 s
    )
except KafkaTimeoutError:
    sys.exit(
        f"error: no Kafka broker answers on {KAFKA_SERVER}. "
        "Start one: bash infra/kafka.sh start (or docker compose up -d kafka)"
    )

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


sent = 0
try:
    while args.count is None or sent < args.count:
        message = make_message()
        meta = producer.send(args.topic, message).get(timeout=10)  # wait for the broker's ack
        sent += 1
        known = sum(row["known"] for row in message["rows"])
        print(f"t={message['t']:8.2f}  w={np.round(message['true_weights'], 4).tolist()}  "
              f"{known} known / {len(message['rows'])} rows -> "
              f"{meta.topic} partition {meta.partition} offset {meta.offset}", flush=True)
        if args.count is None or sent < args.count:
            time.sleep(args.interval)
except KeyboardInterrupt:
    print("\nCtrl-C: flushing and closing ...", file=sys.stderr)
finally:
    try:
        producer.flush(timeout=10)
        producer.close(timeout=10)
    except KeyboardInterrupt:
        pass
print(f"sent {sent} message(s) to {args.topic}", flush=True)
