"""day2/stateful_wordcount: running word totals over Hamlet's soliloquy, with the
DStream API (queueStream + updateStateByKey) and with Structured Streaming on Kafka
(applyInPandasWithState). Both must end with the totals of a plain count."""

import json
import re
from collections import Counter

from conftest import ROOT, assert_clean_output, run_exercise

RUN = "day2/stateful_wordcount/run.sh"
LINES = [
    line
    for line in (ROOT / "day2/stateful_wordcount/hamlet.txt").read_text("utf-8").splitlines()
    if line.strip()
]


def plain_count():
    """The README's word rule: lower case; a word is a run of letters and
    apostrophes, without apostrophes at its ends."""
    counts = Counter()
    for line in LINES:
        for word in re.findall(r"[a-z']+", line.lower()):
            if word.strip("'"):
                counts[word.strip("'")] += 1
    return dict(counts)


def final(output):
    found = [line[len("FINAL "):] for line in output.splitlines() if line.startswith("FINAL ")]
    assert len(found) == 1, f"expected one FINAL line:\n{output[-3000:]}"
    return json.loads(found[0])


def test_the_soliloquy_and_its_plain_count():
    assert len(LINES) == 33
    counts = plain_count()
    assert counts["to"] == 15 and counts["the"] == 19 and counts["tis"] == 2
    assert sum(counts.values()) == 260 and len(counts) == 156


def test_dstream_totals_equal_a_plain_count():
    proc = run_exercise(RUN, "dstream", "--batch-interval", 0.5, timeout=300)
    assert_clean_output(proc.output)
    result = final(proc.output)
    assert result["lines"] == len(LINES)
    assert result["totals"] == plain_count()
    # One line per batch, and the totals run: after the first line "to" is 2,
    # after the second 3 ("Whether 'tis nobler in the mind to suffer").
    batches = re.findall(r"^--- batch (\d+) at [\d:]+: (.*)$", proc.output, re.MULTILINE)
    assert [int(n) for n, _ in batches] == list(range(1, len(LINES) + 1))
    assert [line for _, line in batches] == LINES
    tops = re.findall(r"^    \d+ words, (\d+) in all; top: (.*)$", proc.output, re.MULTILINE)
    assert int(tops[0][0]) == 10 and "to=2" in tops[0][1].split(", ")
    assert "to=3" in tops[1][1].split(", ")
    assert int(tops[-1][0]) == sum(plain_count().values())


def test_structured_totals_equal_a_plain_count(new_topic, produce):
    topic = new_topic()
    sent = run_exercise(RUN, "producer", "--topic", topic, "--count", len(LINES), "--interval", 0)
    assert f"sent {len(LINES)} lines to topic {topic}" in sent.output
    assert_clean_output(sent.output)
    # One bad message after the soliloquy: reported and counted, never fatal.
    [(partition, offset)] = produce(topic, ["To be or not to be (this is not JSON)"])

    proc = run_exercise(RUN, "structured", "--topic", topic, "--max-per-batch", 12,
                        "--max-messages", len(LINES) + 1, timeout=300)
    assert_clean_output(proc.output)
    result = final(proc.output)
    assert result["totals"] == plain_count()
    assert result["messages"] == len(LINES) + 1
    assert result["bad_messages"] == 1
    assert f"{topic}/{partition}/{offset}" in proc.output
    # 12 messages per micro-batch: the totals were carried from batch to batch in state.
    assert len(re.findall(r"^--- batch \d+: ", proc.output, re.MULTILINE)) == 3
