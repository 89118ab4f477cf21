"""day2/simple_structuredstreaming: a running word count with a checkpoint. Two
bounded runs on the same checkpoint must together count every message exactly
once; malformed messages are reported (topic/partition/offset) and skipped. The
solutions: complete mode sorted by count, and words per minute."""

import re
import time
from collections import Counter

from conftest import assert_clean_output, final, malformed_reported, run_exercise

SCRIPT = "day2/simple_structuredstreaming/run.sh"


def plain_count(texts):
    """What the job computes: lower-cased, split on white space."""
    return dict(Counter(word for text in texts for word in text.lower().split()))


def message(text):
    return {"time": int(time.time() * 1000), "msg": text}


def test_restart_on_checkpoint_counts_everything_once(new_topic, produce, tmp_path):
    topic = new_topic(partitions=2)
    checkpoint = tmp_path / "checkpoint"
    first = ["Hello, World!", "the quick brown fox", "Hello again", "THE END of the story"] * 3
    second = ["hello world", "a brand new   word", "The fox is back"] * 2 + ["Streaming Spark"]

    produce(topic, [message(t) for t in first])
    run1 = run_exercise(SCRIPT, "--topic", topic, "--checkpoint", checkpoint,
                        "--max-messages", len(first), "--seconds", "100", timeout=180)
    assert_clean_output(run1.output)
    summary1 = final(run1.stdout)
    assert summary1["words"] == plain_count(first)
    assert summary1["messages"] == len(first) and summary1["malformed"] == 0
    assert summary1["batches"] >= 1
    # the console sink printed update-mode tables
    assert re.search(r"^Batch: 0$", run1.stdout, re.MULTILINE)

    # More, with two malformed ones in the middle: not JSON, and JSON without "msg"
    values = ([message(t) for t in second[:3]] + ["{not json at all", {"time": 1}]
              + [message(t) for t in second[3:]])
    where = produce(topic, values)
    run2 = run_exercise(SCRIPT, "--topic", topic, "--checkpoint", checkpoint,
                        "--max-messages", len(values), "--seconds", "100", timeout=180)
    assert_clean_output(run2.output)
    summary2 = final(run2.stdout)
    # the running counts cover both runs: nothing lost, nothing counted twice
    assert summary2["words"] == plain_count(first + second)
    assert summary2["messages"] == len(values)  # only the new ones were read
    assert summary2["malformed"] == 2
    assert sorted(malformed_reported(run2.output)) == sorted((topic, p, o) for p, o in where[3:5])
    # the batch numbers go on from the first run's
    assert not re.search(r"^Batch: 0$", run2.stdout, re.MULTILINE)


def test_solution_complete_mode_sorted_by_count(new_topic, produce, tmp_path):
    topic = new_topic()
    texts = ["b a b", "c b a", "b"]
    produce(topic, [message(t) for t in texts] + ["not json"])
    proc = run_exercise(SCRIPT, "solutions/complete_mode.py", "--topic", topic,
                        "--checkpoint", tmp_path / "ckpt", "--max-messages", 4, "--seconds", 100)
    assert_clean_output(proc.output)
    result = final(proc.stdout)
    assert result["words"] == {"b": 4, "a": 2, "c": 1}
    assert (result["messages"], result["malformed"]) == (4, 1)
    # complete mode: the whole table, sorted by count
    assert re.search(r"\|b\s*\|4\s*\|\n\|a\s*\|2\s*\|\n\|c\s*\|1\s*\|", proc.stdout)


def test_solution_words_per_minute(new_topic, produce, tmp_path):
    topic = new_topic()
    texts = ["to be", "or not to be"]
    produce(topic, [message(t) for t in texts])
    proc = run_exercise(SCRIPT, "solutions/words_per_minute.py", "--topic", topic,
                        "--checkpoint", tmp_path / "ckpt", "--max-messages", 2, "--seconds", 100)
    assert_clean_output(proc.output)
    result = final(proc.stdout)
    assert (result["messages"], result["malformed"]) == (2, 0)
    # one window (the messages were written within a second), its counts
    [(minute, words)] = result["windows"].items()
    assert re.fullmatch(r"\d\d:\d\d", minute)
    assert words == {"to": 2, "be": 2, "or": 1, "not": 1}
