"""day2/stateful_wordcount: running word totals over Hamlet's soliloquy, with the
DStream API (queueStream + updateStateByKey) and with Structured Streaming on Kafka
(applyInPandasWithState). Both must end with the totals of a plain count. The
solutions: the changed words only (DStream), and a checkpoint to restart on."""

import re
import time
from collections import Counter

from conftest import ROOT, assert_clean_output, final, malformed_reported, run_exercise

RUN = "day2/stateful_wordcount/run.sh"
LINES = [
    line
    for line in (ROOT / "day2/stateful_wordcount/hamlet.txt").read_text("utf-8").splitlines()
    if line.strip()
]


def plain_count(lines=LINES):
    """The README's word rule: lower case; a word is a run of letters and
    apostrophes, without apostrophes at its ends."""
    counts = Counter()
    for line in lines:
        for word in re.findall(r"[a-z']+", line.lower()):
            if word.strip("'"):
                counts[word.strip("'")] += 1
    return dict(counts)


def test_the_soliloquy_and_its_plain_count():
    assert len(LINES) == 33
    counts = plain_count()
    assert counts["to"] == 15 and counts["the"] == 19 and counts["tis"] == 2
    assert sum(counts.values()) == 260 and len(counts) == 156


def test_dstream_totals_equal_a_plain_count():
    # No part word: the default part (dstream) gets the options.
    proc = run_exercise(RUN, "--batch-seconds", 0.5, timeout=300)
    assert_clean_output(proc.output)
    result = final(proc.output)
    assert (result["messages"], result["malformed"], result["batches"]) == (33, 0, 33)
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
    assert_clean_output(sent.output)
    assert final(sent.output) == {"delivered": 33, "failed": 0}
    # a delivery report per line, with its address
    assert f"delivered to {topic}/0/0: {LINES[0]}" in sent.output
    assert f"delivered to {topic}/0/32: {LINES[32]}" in sent.output
    # One bad message after the soliloquy: reported and counted, never fatal.
    [(partition, offset)] = produce(topic, ["To be or not to be (this is not JSON)"])

    proc = run_exercise(RUN, "structured", "--topic", topic, "--max-per-batch", 12,
                        "--max-messages", len(LINES) + 1, timeout=300)
    assert_clean_output(proc.output)
    result = final(proc.output)
    assert result["totals"] == plain_count()
    assert (result["messages"], result["malformed"], result["batches"]) == (34, 1, 3)
    assert malformed_reported(proc.output) == [(topic, partition, offset)]
    # 12 messages per micro-batch: the totals were carried from batch to batch in state.
    assert len(re.findall(r"^--- batch \d+: ", proc.output, re.MULTILINE)) == 3


def test_solution_changed_words():
    proc = run_exercise(RUN, "solutions/changed_words.py", "--batches", 3, "--batch-seconds", 0.5,
                        timeout=300)
    assert_clean_output(proc.output)
    result = final(proc.output)
    assert (result["messages"], result["batches"]) == (3, 3)
    assert result["totals"] == plain_count(LINES[:3])
    changed = re.findall(r"^    changed: (.*)$", proc.output, re.MULTILINE)
    assert len(changed) == 3
    # Line 2, "Whether 'tis nobler in the mind to suffer": its words only, "be" not.
    second = dict(re.findall(r"([\w']+)=(\d+) \(\+\d+\)", changed[1]))
    assert set(second) == set(plain_count(LINES[1:2]))
    assert second["to"] == "3" and second["the"] == "2"


def test_solution_structured_checkpoint_restarts_with_its_totals(new_topic, produce, tmp_path):
    topic = new_topic()
    def message(line):
        return {"time": int(time.time() * 1000), "msg": line}

    args = ["solutions/structured_checkpoint.py", "--topic", topic, "--checkpoint", tmp_path / "ckpt"]
    produce(topic, [message(line) for line in LINES[:20]])
    first = run_exercise(RUN, *args, "--max-messages", 20, timeout=300)
    assert_clean_output(first.output)
    assert final(first.output)["totals"] == plain_count(LINES[:20])
    produce(topic, [message(line) for line in LINES[20:]])
    second = run_exercise(RUN, *args, "--max-messages", 13, timeout=300)
    assert_clean_output(second.output)
    result = final(second.output)
    assert result["messages"] == 13  # only the lines the first run had not read
    # the totals went on from the first run's state: they are the whole text's
    totals = plain_count()
    assert result["totals"] == {word: totals[word] for word in plain_count(LINES[20:])}
    assert result["totals"]["the"] == 19 and result["totals"]["to"] == 15


def test_solution_transform_with_state_keeps_the_same_totals(new_topic, produce):
    topic = new_topic()
    produce(topic, [{"time": int(time.time() * 1000), "msg": line} for line in LINES])
    proc = run_exercise(RUN, "solutions/transform_with_state.py", "--topic", topic,
                        "--max-per-batch", 12, "--max-messages", len(LINES), timeout=300)
    assert_clean_output(proc.output)
    result = final(proc.output)
    assert result["totals"] == plain_count()
    assert (result["messages"], result["malformed"], result["batches"]) == (33, 0, 3)
    # the totals were carried from micro-batch to micro-batch in the processor's ValueState
    assert len(re.findall(r"^--- batch \d+: ", proc.output, re.MULTILINE)) == 3
