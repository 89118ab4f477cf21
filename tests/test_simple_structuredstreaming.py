"""day2/simple_structuredstreaming: a running word count with a checkpoint. Two
bounded runs on the same checkpoint must together count every message exactly
once; malformed messages are reported (with partition and offset) and skipped."""

import json
import re
import time
from collections import Counter

from conftest import assert_clean_output, run_exercise

SCRIPT = "day2/simple_structuredstreaming/run.sh"


def final(output):
    """The FINAL {...} summary line of a run, parsed."""
    lines = [line for line in output.splitlines() if line.startswith("FINAL ")]
    assert lines, f"no FINAL line in output:\n{output[-3000:]}"
    return json.loads(lines[-1][len("FINAL "):])


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
    assert "first run: from the earliest offsets" in run1.stdout
    summary1 = final(run1.stdout)
    assert summary1["words"] == plain_count(first)
    assert summary1["messages"] == len(first) and summary1["malformed"] == 0

    # M more, with two malformed ones in the middle: not JSON, and JSON without "msg"
    values = ([message(t) for t in second[:3]] + ["{not json at all", {"time": 1}]
              + [message(t) for t in second[3:]])
    where = produce(topic, values)
    run2 = run_exercise(SCRIPT, "--topic", topic, "--checkpoint", checkpoint,
                        "--max-messages", len(values), "--seconds", "100", timeout=180)
    assert_clean_output(run2.output)
    assert "resuming where the last run stopped" in run2.stdout
    summary2 = final(run2.stdout)
    # the running counts cover both runs: nothing lost, nothing counted twice
    assert summary2["words"] == plain_count(first + second)
    assert summary2["messages"] == len(values)  # only the new ones were read
    assert summary2["malformed"] == 2
    reported = re.findall(rf"malformed message .* at {re.escape(topic)}/(\d+)/(\d+)", run2.stdout)
    assert sorted((int(p), int(o)) for p, o in reported) == sorted(where[3:5])
    assert "'{not json at all'" in run2.stdout
    # the console sink printed update-mode tables
    assert re.search(r"^Batch: \d+$", run2.stdout, re.MULTILINE)
