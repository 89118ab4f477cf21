"""What the dashboard reads, and how it tells a well-formed message from a malformed
one. Not a streaming idea of its own: the checks are kept out of dashboard.py, which
shows the Kafka and Bokeh calls.

Every message is UTF-8 JSON (NaN and Infinity are not JSON), an object, in the format
of the exercise that writes it:

    messages  {"time": <epoch ms>, "msg": "Hello, World!"}        day1/simple_producer
    trendy    {"t": 1.5, "true_weights": [5 numbers],              day2/trendy_prices
               "rows": [{"x": [5 numbers], "known": true, "label": 0.1}, ...]}
    tweets    {"text": "...", "lang": "en"}                        day2/twitter_cluster
    windows   {"start": <ms>, "end": <ms>, "count": N}             day2/windowed_sum events
              {"watermark": <ms> or null, "dropped": N, "batch": N}   (keyed "watermark")
    model     {"batch": N, "t": 1.5, "learned": [5 numbers],       day2/trendy_prices structured
               "true": [5 numbers], "rmse": 0.02 or null, "frozen_rmse": 0.1 or null, ...}

parse(value, role) returns the message, or raises course.Malformed (a ValueError) saying
why it is not one: for the producers' formats, the course's own check (the course
README's "What counts as malformed"). An Update gathers what the consumer read in one
second, by panel.
"""

import collections
import json
import math
import time

import course


def _number(v):
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _count(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**53


def _numbers(v, n=5):
    return isinstance(v, list) and len(v) == n and all(map(_number, v))


# The producers' formats: the course's check, as every script that reads them uses it.
COURSE_FORMATS = {"messages": "message", "trendy": "trendy", "tweets": "tweet"}
# What Spark jobs write back to Kafka: checked here.
CHECKS = {
    "windows": lambda m: ((_count(m.get("start")) and _count(m.get("end")) and m["start"] < m["end"]
                           and _count(m.get("count")))
                          or (set(m) == {"watermark", "dropped", "batch"} and _count(m["dropped"])
                              and _count(m["batch"]) and (m["watermark"] is None or _count(m["watermark"])))),
    "model": lambda m: (_count(m.get("batch")) and _number(m.get("t")) and _numbers(m.get("learned"))
                        and _numbers(m.get("true"))
                        and all(m.get(k) is None or _number(m.get(k)) for k in ("rmse", "frozen_rmse"))),
}


def _not_json(constant):
    raise ValueError(f"{constant} is not JSON")


def parse(value, role):
    """The message a record's value holds, if it is one of `role`'s; else course.Malformed."""
    if role in COURSE_FORMATS:
        return course.parse_value(value, COURSE_FORMATS[role])
    text = course.text_of(value)  # Malformed: a tombstone, not UTF-8
    try:
        message = json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise course.Malformed("not JSON") from None
    if not isinstance(message, dict) or not CHECKS[role](message):
        raise course.Malformed(f"not a {role[:-1] if role == 'windows' else role} message")
    return message


MODEL_COLUMNS = ("time", "rmse", "frozen_rmse", *(f"{kind}{i}" for kind in ("true", "learned")
                                                   for i in range(5)))


class Update:
    """What the consumer read in one second: per input topic, how many messages (the
    rate panel's next point); the windows and watermarks; the model updates, as the
    columns of the model panel's data source (x: when each was published); malformed ones."""

    def __init__(self, inputs):
        self.rate = {"time": [time.time() * 1000], **{topic: [0] for topic in inputs}}
        self.windows, self.watermarks = [], []
        self.model = {column: [] for column in MODEL_COLUMNS}
        self.malformed = collections.Counter()

    def add(self, role, message, timestamp):
        if role == "windows":
            (self.watermarks if "watermark" in message else self.windows).append(message)
        elif role == "model":
            row = {"time": timestamp, **{f"{kind}{i}": w for kind in ("true", "learned")
                                         for i, w in enumerate(message[kind])}}
            row.update({k: math.nan if message[k] is None else message[k] for k in ("rmse", "frozen_rmse")})
            if message["batch"] == 1:  # a new run of the learner: a gap (NaN) before its first point
                for column in MODEL_COLUMNS:
                    self.model[column].append(timestamp if column == "time" else math.nan)
            for column in MODEL_COLUMNS:
                self.model[column].append(row[column])
