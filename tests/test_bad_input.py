"""Bad input, in every script that reads Kafka: one corpus of bad values (bad_values.py).

First the definition (the README's "What counts as malformed"): course.parse_value(),
the Kafka-to-socket bridge's lines and, in Spark, course.malformed_message() say of
every corpus value what the corpus says is wrong, and nothing of a good message.

Then the matrix: each script runs once, bounded, on a fresh topic that holds every bad
value of its message format, each between good messages, every other message keyed
with a key that is not UTF-8. Each run must report every bad value once, at its
address, with its why; count them in FINAL's "malformed"; handle every good message
exactly once; print no traceback; exit 0. A consumer with a group reads nothing again
on a second run (its lag is 0); so does the DStream bridge's group. A failure names
the script and the bad values it got wrong.
"""

import json
import math
import os
import re
import socket
import string
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass

import pytest
from kafka import KafkaAdminClient, TopicPartition

import bad_values
from conftest import KAFKA_SERVER, ROOT, assert_clean_output, final, json_lines, run_exercise

# --- the definition -----------------------------------------------------------------

# Values beyond the corpus on which Python's and Spark's checks must agree (the
# "message" format): whitespace, text after the object, keys twice, big and odd numbers,
# a BOM, escapes, raw control characters, deep objects.
EDGES = [
    b'{"time": 1, "msg": "a"} and more', b'{"time": 1, "msg": "a"}\n', b' \t{"time": 1, "msg": "a"}\r\n',
    b'{"time": 1, "msg": "a", "msg": 5}', b'{"time": 1, "msg": 5, "msg": "a"}',
    b'{"time": 9223372036854775808, "msg": "a"}', b'{"time": -9223372036854775808, "msg": "a"}',
    b'{"time": 1e3, "msg": "a"}', b'{"time": 0.0, "msg": "a"}', b'{"time": 1, "msg": null}',
    b'\xef\xbb\xbf{"time": 1, "msg": "a"}', b'{"time": 1, "msg": "caf\\u00e9\\n"}',
    b'{"time": 1, "msg": "a\x01"}', b'{"time": 1, "msg": "caf\xc3\xa9"}', b"true",
    b'{"msg": "a", "time": 1, "extra": [1, {"b": null}]}', b'{"a":' * 2000 + b"1" + b"}" * 2000,
    b"\xed\xa0\x80", b"\xc0\xaf",
]

DEFINITIONS = r"""
import json, sys
import bad_values as bv, course
from kafka_socket_bridge import KafkaSocketBridge

class Record:  # what kafka-python hands the bridge: a message's address and value
    def __init__(self, offset, value):
        self.topic, self.partition, self.offset, self.value = "t", 0, offset, value

def python(value, fmt):
    try:
        course.parse_value(value, fmt)
    except course.Malformed as why:
        return str(why)

def bridged(value, fmt):  # through a bridge line, as a DStream's parse function sees it
    line = KafkaSocketBridge._line(Record(7, value)).decode("utf-8")
    assert line.endswith("\n") and line.count("\n") == 1, line[:100]
    address, _, why = course.parse_line(line[:-1], fmt)
    assert address == ("t", 0, 7), address
    return why

cases = [(fmt, name, value) for fmt in bv.FORMATS for name, value in bv.corpus(fmt)
         + [(f"good {i}", bv.good(fmt, i)) for i in range(3)]
         + [("good, on many lines", json.dumps(json.loads(bv.good(fmt, 9)), indent=1)
             .replace("\n", "\r\n", 1).encode())]]
print(json.dumps([[fmt, name, python(value, fmt), bridged(value, fmt)] for fmt, name, value in cases]))
if sys.argv[1:] == ["spark"]:
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.appName("malformed_message").getOrCreate()
    edges = [(f"edge {i}", value) for i, value in enumerate(json.loads(sys.stdin.read()))]
    values = [(name, value) for fmt, name, value in cases if fmt == "message"]
    values += [(name, value.encode("latin-1")) for name, value in edges]
    rows = (spark.createDataFrame(values, "name STRING, value BINARY")
            .select("name", "value", course.malformed_message("value").alias("why")).collect())
    print(json.dumps([[row.name, row.why, python(row.value and bytes(row.value), "message")]
                      for row in rows]))
    spark.stop()
"""


def definitions(*args, stdin=""):
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'infra/python'}:{ROOT / 'tests'}", "SPARK_UI": "off"}
    proc = subprocess.run([sys.executable, "-c", DEFINITIONS, *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("[")]


def test_python_definition_and_bridge_lines_say_what_the_corpus_says():
    [results] = definitions()
    wrong = []
    for fmt, name, python, bridged in results:
        want = None if name.startswith("good") else bad_values.expected_why(fmt, name)
        if python != want or bridged != want:
            wrong.append(f"{fmt} {name!r}: parse_value says {python!r}, through the bridge "
                         f"{bridged!r}; expected {want!r}")
    assert not wrong, "\n".join(wrong)
    assert len(results) == sum(len(bad_values.corpus(fmt)) + 4 for fmt in bad_values.FORMATS)


def test_spark_definition_agrees_with_python():
    """course.malformed_message() (what Structured Streaming jobs use) gives, for every
    "message" value of the corpus, the corpus's why, and for the edge values the same
    answer as parse_value()."""
    _, results = definitions("spark", stdin=json.dumps([v.decode("latin-1") for v in EDGES]))
    wrong = []
    for name, spark, python in results:
        if name.startswith("edge"):
            name, want = EDGES[int(name[5:])][:60], python
        else:
            want = None if name.startswith("good") else bad_values.expected_why("message", name)
        if spark != want:
            wrong.append(f"{name!r}: Spark says {spark!r}, expected {want!r}")
    assert not wrong, "\n".join(wrong)
    assert len(results) == len(bad_values.corpus("message")) + 4 + len(EDGES)


# --- the matrix: every script, the whole corpus --------------------------------------

def texts(feed, field):
    return [json.loads(value)[field] for _, value in sorted(feed.good.items())]


def compare(what, got, want):
    return [] if got == want else [f"{what}: got {got!r},\n    expected {want!r}"]


def printed_records(output, feed):
    """simple_consumer: every good message printed once, at its address, as sent."""
    printed = re.findall(rf"^{re.escape(feed.topic)}/0/(\d+): (.*)$", output, re.MULTILINE)
    want = [(offset, json.loads(value)) for offset, value in sorted(feed.good.items())]
    return compare("printed messages", [(int(o), json.loads(v)) for o, v in printed], want)


def json_offsets(key):
    """The offsets of the --json lines that have `key`: each good message's, once."""
    def check(output, feed):
        got = [line["offset"] for line in json_lines(output) if key in line]
        return compare(f"offsets of the {key!r} JSON lines", got, sorted(feed.good))
    return check


def final_key(key):
    def check(output, feed):  # FINAL[key] counts the good messages
        return compare(f"FINAL {key}", final(output).get(key), len(feed.good))
    return check


def words(rule, key="words"):
    """A word count: FINAL[key] equals rule() applied to the good messages' texts."""
    def check(output, feed):
        counted = final(output).get(key)
        if key == "windows":  # words_per_minute: {"HH:MM": {word: n}}, summed over minutes
            counted = sum((Counter(minute) for minute in counted.values()), Counter())
        want = Counter(word for text in texts(feed, "msg") for word in rule(text))
        return compare(f"FINAL {key}", dict(counted), dict(want))
    return check


def stateful_rule(text):  # wordcount_structured's: letters and apostrophes
    return [w.strip("'") for w in re.split(r"[^a-z']+", text.lower()) if w.strip("'")]


def event_windows(closed_only=False):
    """windowed_sum: every good message in its two 10 s windows (sliding by 5 s); in
    append mode only windows the watermark closed are printed, each with its count."""
    def check(output, feed):
        want = Counter()
        for t in texts(feed, "time"):
            for start in range(t - t % 5000 - 5000, t + 1, 5000):
                want[start, start + 10_000] += 1
        got = {(s, e): n for s, e, n in final(output)["windows"]}
        if closed_only:  # micro-batches of 20: the third runs with a watermark 9 s in
            return compare("closed windows", got, {k: want[k] for k in got if k in want} or "some")
        return compare("windows", got, dict(want))
    return check


def trendy_learned(output, feed):
    """trendy_prices: each good message's 5 known rows learned from once, its 5 unknown
    ones predicted once, and no NaN or Infinity anywhere in the model."""
    batches = [line for line in json_lines(output) if "trained_rows" in line]
    problems = compare("rows trained on, predicted",
                       (sum(b["trained_rows"] for b in batches), sum(b["predicted_rows"] for b in batches)),
                       (5 * len(feed.good), 5 * len(feed.good)))
    figures = [v for b in batches for v in b["learned"] + [b["rmse"] or 0]]
    figures.append(final(output)["mean_rmse"] or 0)
    return problems + compare("every weight and error finite", all(map(math.isfinite, figures)), True)


def tweets_shown(output, feed):
    got = [line["at"] for line in json_lines(output) if "cluster" in line]
    return compare("tweets shown", got, [f"{feed.topic}/0/{o}" for o in sorted(feed.good)])


@dataclass
class Script:
    id: str
    run: str  # run.sh and its part
    args: str  # {topic} {group} {total} {tmp} {model} are filled in
    fmt: str
    checks: tuple
    group: str = ""  # "consumer": a Python consumer (a second run), "bridge": lag 0


SPARKSTREAM = "day1/simple_sparkstream/run.sh"
STRUCTURED = "day2/simple_structuredstreaming/run.sh"
DSTREAM_ARGS = "--topic {topic} --group {group} --batch-seconds 2 --max-messages {total} --seconds 240"


def normalized(text):  # simple_sparkstream's solution: lower case, no punctuation around
    return [w for w in (w.strip(string.punctuation) for w in text.lower().split()) if w]


def dashboard(role_topic):
    """live_dashboard, fed on one of its topics (the others: topics nobody writes)."""
    flags = ("messages-topic", "trendy-topic", "tweets-topic", "windows-topic", "model-topic")
    return ("--group {group} --port {port} --max-messages {total} --seconds 120 "
            + " ".join(f"--{flag} {{topic}}" + ("" if flag == role_topic else f"-{flag}") for flag in flags))


SCRIPTS = [
    Script("simple_consumer", "day1/simple_consumer/run.sh",
           "--topics {topic} --group {group} --max-messages {total} --seconds 120", "message",
           (printed_records,), group="consumer"),
    Script("autodatascientist consumer", "day1/autodatascientist/run.sh consumer",
           "--topic {topic} --group {group} --max-messages {total} --seconds 120 --json", "matrix",
           (json_offsets("X"), final_key("datasets")), group="consumer"),
    Script("autodatascientist honest_scoreboard",
           "day1/autodatascientist/run.sh solutions/honest_scoreboard.py",
           "--topic {topic} --group {group} --max-messages {total} --seconds 240 --json", "matrix",
           (json_offsets("round"), final_key("rounds")), group="consumer"),
    Script("simple_sparkstream", SPARKSTREAM, DSTREAM_ARGS, "message", (words(str.split),), group="bridge"),
    Script("simple_sparkstream normalized_words", f"{SPARKSTREAM} solutions/normalized_words.py",
           DSTREAM_ARGS, "message", (words(normalized),), group="bridge"),
    Script("simple_sparkstream windowed_top_words", f"{SPARKSTREAM} solutions/windowed_top_words.py",
           DSTREAM_ARGS, "message", (words(str.split),), group="bridge"),
    Script("simple_structuredstreaming", STRUCTURED,
           "--topic {topic} --checkpoint {tmp}/cp --max-messages {total} --seconds 240", "message",
           (words(lambda text: text.lower().split()),)),
    Script("simple_structuredstreaming complete_mode", f"{STRUCTURED} solutions/complete_mode.py",
           "--topic {topic} --checkpoint {tmp}/cp --max-messages {total} --seconds 240", "message",
           (words(lambda text: text.lower().split()),)),
    Script("simple_structuredstreaming words_per_minute", f"{STRUCTURED} solutions/words_per_minute.py",
           "--topic {topic} --checkpoint {tmp}/cp --max-messages {total} --seconds 240", "message",
           (words(lambda text: text.lower().split(), key="windows"),)),
    Script("stateful_wordcount structured", "day2/stateful_wordcount/run.sh structured",
           "--topic {topic} --max-messages {total} --seconds 240", "message",
           (words(stateful_rule, key="totals"),)),
    Script("stateful_wordcount structured_checkpoint",
           "day2/stateful_wordcount/run.sh solutions/structured_checkpoint.py",
           "--topic {topic} --checkpoint {tmp}/cp --max-messages {total} --seconds 240", "message",
           (words(stateful_rule, key="totals"),)),
    Script("windowed_sum events", "day2/windowed_sum/run.sh events",
           "--topic {topic} --starting-offsets earliest --max-per-batch 20 --max-messages {total} "
           "--seconds 240", "message", (event_windows(),)),
    Script("windowed_sum append_mode", "day2/windowed_sum/run.sh solutions/append_mode.py",
           "--topic {topic} --starting-offsets earliest --max-per-batch 20 --max-messages {total} "
           "--seconds 240", "message", (event_windows(closed_only=True),)),
    Script("trendy_prices dstream", "day2/trendy_prices/run.sh dstream",
           DSTREAM_ARGS + " --json --plot {tmp}/plot.png", "trendy", (trendy_learned,), group="bridge"),
    Script("trendy_prices structured", "day2/trendy_prices/run.sh structured",
           "--topic {topic} --starting-offsets earliest --trigger 0 --max-messages {total} --seconds 240 "
           "--json --plot {tmp}/plot.png", "trendy", (trendy_learned,)),
    Script("trendy_prices weighted_least_squares",
           "day2/trendy_prices/run.sh solutions/weighted_least_squares.py",
           "--topic {topic} --starting-offsets earliest --trigger 0 --max-messages {total} --seconds 240 "
           "--json --plot {tmp}/plot.png", "trendy", (trendy_learned,)),
    Script("twitter_cluster predict", "day2/twitter_cluster/run.sh predict",
           "--topic {topic} --model {model} --trigger 0 --max-messages {total} --seconds 240", "tweet",
           (tweets_shown, final_key("shown"))),
    Script("twitter_cluster streaming-kmeans", "day2/twitter_cluster/run.sh streaming-kmeans",
           "--topic {topic} --k 2 --trigger 0 --max-messages {total} --seconds 240", "tweet",
           (final_key("tweets"),)),
    Script("twitter_cluster streaming_kmeans_warm_start",
           "day2/twitter_cluster/run.sh solutions/streaming_kmeans_warm_start.py",
           "--topic {topic} --model {model} --trigger 0 --max-messages {total} --seconds 240", "tweet",
           (final_key("tweets"),)),
    Script("live_dashboard messages", "day2/live_dashboard/run.sh", dashboard("messages-topic"), "message",
           ()),
    Script("live_dashboard trendy", "day2/live_dashboard/run.sh", dashboard("trendy-topic"), "trendy", ()),
    Script("live_dashboard tweets", "day2/live_dashboard/run.sh", dashboard("tweets-topic"), "tweet", ()),
]


@pytest.fixture(scope="module")
def tweet_model(tmp_path_factory):
    """A small model for the tweet readers: two languages, one k-means run."""
    model = tmp_path_factory.mktemp("bad_input") / "model"
    run_exercise("day2/twitter_cluster/run.sh", "train", "--model", model, "--languages", "en,es",
                 "--runs", 1, timeout=600)
    return model


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lag(topic, group, end):
    """How far the group's committed offset on partition 0 is behind `end`."""
    admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVER)
    try:
        committed = admin.list_group_offsets({group: [TopicPartition(topic, 0)]})[group]
        return end - committed[TopicPartition(topic, 0)].offset
    finally:
        admin.close()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.id)
def test_every_bad_value_reported_once_every_good_message_handled_once(script, new_topic, tmp_path,
                                                                       request):
    topic = new_topic()
    feed = bad_values.fill(topic, script.fmt, KAFKA_SERVER)
    model = request.getfixturevalue("tweet_model") if "{model}" in script.args else ""
    args = script.args.format(topic=topic, group=f"g-{topic}", total=feed.total, tmp=tmp_path,
                              model=model, port=free_port()).split()
    run = run_exercise(*script.run.split(), *args, timeout=420, check=False)
    problems = compare("exit status", run.returncode, 0)
    try:
        assert_clean_output(run.output)
    except AssertionError:
        errors = re.findall(r"^[\w.]*(?:Error|Exception)\b.*$", run.output, re.MULTILINE)
        problems.append(f"a stack trace in the output ({errors[-1] if errors else 'see below'})")
    try:
        summary = final(run.stdout)
        problems += compare("FINAL messages, malformed", (summary["messages"], summary["malformed"]),
                            (feed.total, len(feed.bad)))
        problems += bad_values.reporting_problems(run.output, feed)
        for check in script.checks:
            problems += check(run.output, feed)
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        problems.append(f"no FINAL line to check, or not the expected one: {exc!r:.300}")
        problems += bad_values.reporting_problems(run.output, feed)
    if script.group:
        problems += compare("the group's lag after the run", lag(topic, f"g-{topic}", feed.total), 0)
    if script.group == "consumer" and not problems:  # the same group again: nothing new
        again = run_exercise(*script.run.split(), *args[:4], "--seconds", 3, timeout=120, check=False)
        problems += compare("a second run's FINAL messages", final(again.stdout)["messages"], 0)
    assert not problems, (f"{script.id} on {feed.fmt} bad values:\n  " + "\n  ".join(problems)
                          + f"\n--- its output (end) ---\n{run.output[-4000:]}")
