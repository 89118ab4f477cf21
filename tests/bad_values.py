"""One corpus of bad message values, for every script that reads Kafka.

The course's README ("What counts as malformed") defines, per message format, what a
script must report as malformed (`skipped malformed message at topic/partition/offset:
<why>`), count and skip. This module holds the values that test it, each with a name
(for test ids and failure messages) and the why a script must report:

    corpus(fmt)      -> [(name, value), ...]   value: bytes, or None (a tombstone)
    expected_why(fmt, name) -> the short reason, e.g. "not UTF-8", '"msg" is not a string'
    good(fmt, i=0)   -> bytes: a well-formed message of the format (i makes it unique)
    BAD_KEY          a message key that is not UTF-8: it must never matter

and, for tests that run a script on them:

    fill(topic, fmt, server) -> Feed: every bad value, each between good messages,
                        every other message keyed with BAD_KEY; Feed.good {offset:
                        value}, Feed.bad {offset: name}, Feed.total
    reporting_problems(output, feed) -> [what is wrong, naming the bad value], empty
                        when each bad value was reported exactly once, at its
                        address, with its expected why, and no good message was

fmt is one of FORMATS:
    "message"  simple_producer's (and hamlet_producer's) {"time": <epoch ms>, "msg": "..."}
    "matrix"   autodatascientist's {"rows": [{"x": [numbers], "label": int}, ...], "score": float}
    "trendy"   trendy_prices' {"t": float, "true_weights": [5 floats],
               "rows": [{"x": [5 floats], "known": bool, "label": float or null}, ...]}
    "tweet"    twitter_cluster's {"text": "...", "lang": "en"}

Every format's corpus has the values that are bad whatever the format (no value, empty,
not UTF-8, UTF-16, NUL bytes, not JSON, JSON cut short, nested 100,000 levels deep,
JSON that is not an object, 900 KB of text) and its own: an object lacking a field,
fields of the wrong type, NaN and Infinity where a number is expected.
"""

import json
import re
from dataclasses import dataclass, field

FORMATS = ("message", "matrix", "trendy", "tweet")
BAD_KEY = b"\xff\xfekey \x80 not UTF-8"
_TIME = 1_795_000_000_000  # epoch ms of the good messages (2026-11-18), one second apart


def good(fmt, i=0):
    """A well-formed value of format fmt (bytes); i makes it unique."""
    if fmt == "message":
        value = {"time": _TIME + 1000 * i, "msg": f"good message number {i}"}
    elif fmt == "matrix":  # 4 rows, 3 features, both labels: a small round, quick to play
        value = {"rows": [{"x": [round((r * 7 + i) % 10 / 10, 1), r % 3, 1.5], "label": r % 2}
                          for r in range(4)], "score": 0.75}
    elif fmt == "trendy":  # 10 rows of 5 features, half of them known (with their label)
        weights = [0.01 * (i + 1) * w for w in (1, -2, 3, -4, 5)]
        rows = []
        for r in range(10):
            x = [((r + 1) * (j + 2) * (i + 3)) % 97 / 97 for j in range(5)]
            known = r % 2 == 0
            label = sum(w * v for w, v in zip(weights, x, strict=True)) if known else None
            rows.append({"x": x, "known": known, "label": label})
        value = {"t": float(i), "true_weights": weights, "rows": rows}
    elif fmt == "tweet":
        texts = [("en", "the weather is lovely today, let us walk to the river"),
                 ("es", "hoy hace muy buen tiempo, vamos a pasear por el río"),
                 ("en", "my train was late again this morning"),
                 ("es", "el tren llegó tarde otra vez esta mañana")]
        lang, text = texts[i % len(texts)]
        value = {"text": f"{text} ({i})", "lang": lang}
    else:
        raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _json(value):
    """bytes of value as JSON; float('nan') and float('inf') become NaN and Infinity."""
    return json.dumps(value).encode("utf-8")


def _common(fmt):
    """(name, value, why): the values that are bad in every format."""
    sample = good(fmt)
    return [
        ("tombstone", None, "no value (a tombstone)"),
        ("empty", b"", "empty value"),
        ("not UTF-8", "Grüße, café".encode("latin-1"), "not UTF-8"),
        ("UTF-16", sample.decode("utf-8").encode("utf-16"), "not UTF-8"),
        ("64 NUL bytes", b"\0" * 64, "not JSON"),
        ("not JSON", b"Hello, World!", "not JSON"),
        ("JSON cut short", sample[:len(sample) // 2], "not JSON"),
        ("JSON nested 100,000 levels deep", b"[" * 100_000 + b"]" * 100_000, "JSON nested too deep"),
        ("JSON array", b"[" + sample + b"]", "JSON array, not an object"),
        ("JSON string", b'"Hello, World!"', "JSON string, not an object"),
        ("JSON number", b"42", "JSON number, not an object"),
        ("JSON null", b"null", "JSON null, not an object"),
        ("900 KB of text", (b"all work and no play makes jack a dull boy " * 21_000)[:900_000],
         "not JSON"),
    ]


def _own(fmt):
    """(name, value, why): the values that are bad in this format."""
    nan, inf = float("nan"), float("inf")
    if fmt == "message":
        t = _TIME
        return [
            ('lacks "msg"', _json({"time": t}), '"msg" is missing'),
            ('lacks "time"', _json({"msg": "poison"}), '"time" is missing'),
            ('"msg" is 5', _json({"time": t, "msg": 5}), '"msg" is not a string'),
            ('"time" is "soon"', _json({"time": "soon", "msg": "poison"}), '"time" is not an integer'),
            ('"time" is true', _json({"time": True, "msg": "poison"}), '"time" is not an integer'),
            ('"time" is 1.5', _json({"time": 1.5, "msg": "poison"}), '"time" is not an integer'),
            ('"time" is NaN', _json({"time": nan, "msg": "poison"}), "not JSON"),
            ('"time" is Infinity', _json({"time": inf, "msg": "poison"}), "not JSON"),
        ]
    if fmt == "matrix":
        rows = json.loads(good("matrix"))["rows"]

        def with_x(x):  # the good rows, the first one's x replaced
            return [{**rows[0], "x": x}, *rows[1:]]

        return [
            ('lacks "score"', _json({"rows": rows}), '"score" is missing'),
            ('"rows" is a text', _json({"rows": "abc", "score": 0.5}),
             '"rows" is not a list of 2 rows or more'),
            ('"x" holds a text', _json({"rows": with_x([1, "a", 2]), "score": 0.5}),
             'a row\'s "x" is not a list of numbers'),
            ('"label" is "yes"', _json({"rows": [{**rows[0], "label": "yes"}, *rows[1:]], "score": 0.5}),
             'a row\'s "label" is not an integer'),
            ("rows of different lengths", _json({"rows": with_x([1, 2]), "score": 0.5}),
             "rows of different lengths: not a matrix"),
            ('"score" is NaN', _json({"rows": rows, "score": nan}), "not JSON"),
            ('"x" holds Infinity', _json({"rows": with_x([1, inf, 2]), "score": 0.5}), "not JSON"),
        ]
    if fmt == "trendy":
        sample = json.loads(good("trendy"))
        rows = sample["rows"]

        def with_row(**change):  # the good message, its first row changed
            return {**sample, "rows": [{**rows[0], **change}, *rows[1:]]}

        return [
            ('lacks "rows"', _json({"t": 1.0, "true_weights": sample["true_weights"]}),
             '"rows" is missing'),
            ('"rows" is an object', _json({**sample, "rows": rows[0]}), '"rows" is not a list of rows'),
            ('"x" holds a text', _json(with_row(x=[1, "a", 3, 4, 5])),
             'a row\'s "x" is not a list of 5 numbers'),
            ('"t" is "soon"', _json({**sample, "t": "soon"}), '"t" is not a number'),
            ('"known" is 1', _json(with_row(known=1)), 'a row\'s "known" is not true or false'),
            ('"label" is NaN', _json(with_row(known=True, label=nan)), "not JSON"),
            ('"x" holds Infinity', _json(with_row(x=[1, inf, 3, 4, 5])), "not JSON"),
        ]
    if fmt == "tweet":
        return [
            ('lacks "text"', _json({"lang": "en"}), '"text" is missing'),
            ('"text" is 5', _json({"text": 5, "lang": "en"}), '"text" is not a string'),
            ('"lang" is null', _json({"text": "poison", "lang": None}), '"lang" is not a string'),
            ('"text" is NaN', _json({"text": nan, "lang": "en"}), "not JSON"),
        ]
    raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")


def corpus(fmt):
    """[(name, value), ...]: every bad value of format fmt; value is bytes or None."""
    return [(name, value) for name, value, _ in _common(fmt) + _own(fmt)]


def expected_why(fmt, name):
    """What a script must say is wrong with the corpus value `name` of format fmt."""
    return {name: why for name, _, why in _common(fmt) + _own(fmt)}[name]


@dataclass
class Feed:
    """What fill() wrote to a topic of one partition: offsets of good and bad values."""
    topic: str
    fmt: str
    good: dict = field(default_factory=dict)  # offset -> value (bytes)
    bad: dict = field(default_factory=dict)  # offset -> the bad value's name

    @property
    def total(self):
        return len(self.good) + len(self.bad)


def fill(topic, fmt, server):
    """Write good, bad, good, bad, ..., good to partition 0 of topic (every bad value
    of fmt's corpus once), every other message keyed with BAD_KEY. Returns a Feed."""
    from kafka import KafkaProducer

    values = [(None, good(fmt, 0))]
    for i, (name, value) in enumerate(corpus(fmt), start=1):
        values += [(name, value), (None, good(fmt, i))]
    producer = KafkaProducer(bootstrap_servers=server, max_request_size=2**20)
    futures = [producer.send(topic, value=value, key=BAD_KEY if i % 2 else None, partition=0)
               for i, (_, value) in enumerate(values)]
    producer.flush()
    producer.close()
    feed = Feed(topic, fmt)
    for (name, value), future in zip(values, futures, strict=True):
        offset = future.get(timeout=10).offset
        if name is None:
            feed.good[offset] = value
        else:
            feed.bad[offset] = name
    return feed


_SKIPPED = re.compile(r"^skipped malformed message at (\S+)/(\d+)/(\d+)(?:: (.*))?$", re.MULTILINE)


def reporting_problems(output, feed):
    """What is wrong with how a run reported feed's values (empty: nothing): each bad
    value once, at its address, with its expected why; no good message."""
    reported = {}
    for topic, partition, offset, why in _SKIPPED.findall(output):
        reported.setdefault((topic, int(partition), int(offset)), []).append(why)
    problems = []
    for offset, name in sorted(feed.bad.items()):
        want = expected_why(feed.fmt, name)
        got = reported.pop((feed.topic, 0, offset), [])
        if got != [want]:
            problems.append(f"bad value {name!r} (offset {offset}): reported {got or 'nowhere'}, "
                            f"expected once, {want!r}")
    for (topic, partition, offset), whys in sorted(reported.items()):
        problems.append(f"{topic}/{partition}/{offset}, a good message, reported malformed: {whys}")
    return problems
