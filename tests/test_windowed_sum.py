"""day2/windowed_sum: the DStream window + union example (lastTwoSum), the
Structured Streaming event-time windows with a watermark, where a late event is
dropped, the same windows written back to Kafka by Spark's Kafka sink, and the two
worked solutions (reduceByKeyAndWindow, append mode)."""

import re
import shutil

from conftest import (
    ROOT,
    assert_clean_output,
    delete_topics,
    final,
    malformed_reported,
    read_records,
    run_exercise,
)

RUN = "day2/windowed_sum/run.sh"
BASE = 1_704_067_200_000  # 2024-01-01 00:00:00 UTC, a multiple of the 5 s slide
# Event times in seconds after BASE; 9 comes after 26: out of order, but within the
# 10 s watermark (and in the same micro-batch), so it counts.
SECONDS = [1, 2, 3, 6, 7, 12, 13, 14, 18, 21, 26, 9]


def printed_pairs(output, key):
    """The (value, key's sum) pairs a DStream run printed, batch after batch."""
    printed = re.findall(rf"^\('(value|{key})', (\d+)\)$", output, re.MULTILINE)
    pairs = [printed[i:i + 2] for i in range(0, len(printed), 2)]
    assert all(k1 == "value" and k2 == key for (k1, _), (k2, _) in pairs), printed
    return [[int(v), int(s)] for (_, v), (_, s) in pairs]


def expected_windows(seconds):
    """10 s windows every 5 s: an event at s is in the windows starting at the
    multiples of 5 in (s - 10, s]."""
    expected = {}
    for s in seconds:
        for start in range((s // 5) * 5 - 5, s + 1, 5):
            key = (BASE + start * 1000, BASE + (start + 10) * 1000)
            expected[key] = expected.get(key, 0) + 1
    return expected


def events_with_a_bad_one(new_topic, produce):
    topic = new_topic()
    produce(topic, [{"time": BASE + s * 1000, "msg": "Hello, World!"} for s in SECONDS])
    [(partition, bad_offset)] = produce(topic, ["Hello, World! (not JSON)"])
    return topic, (topic, partition, bad_offset)


def test_dstream_last_two_sum():
    count = 5
    proc = run_exercise(RUN, "--count", count)  # the default part
    assert_clean_output(proc.output)
    # lastTwoSum is the sum over a window of two batches: x plus the previous
    # value; at x=1 the window holds only the first batch, so it is 1.
    expected = [[x, x + (x - 1)] for x in range(1, count + 1)]
    result = final(proc.output)
    assert result["pairs"] == expected
    assert result["batches"] >= count  # a batch may complete while the stream stops
    assert printed_pairs(proc.output, "lastTwoSum") == expected  # what the student sees


def test_solution_reduce_by_key_and_window():
    proc = run_exercise(RUN, "solutions/reduce_by_key_and_window.py", "--count", 5,
                        "--window-batches", 3)
    assert_clean_output(proc.output)
    expected = [[1, 1], [2, 3], [3, 6], [4, 9], [5, 12]]  # x + the two before it
    assert final(proc.output)["pairs"] == expected
    assert printed_pairs(proc.output, "windowSum") == expected


def test_event_time_windows_and_a_late_event(new_topic, produce):
    topic, bad = events_with_a_bad_one(new_topic, produce)
    # --demo-late: after the first batch the job sends an event an hour older than
    # the newest one; the watermark drops it: not counted.
    proc = run_exercise(RUN, "events", "--topic", topic, "--starting-offsets", "earliest",
                        "--demo-late", "--max-messages", len(SECONDS) + 2)
    assert_clean_output(proc.output)
    result = final(proc.output)
    got = {(start, end): n for start, end, n in result["windows"]}
    assert got == expected_windows(SECONDS)
    assert sum(n for (start, _), n in got.items() if (start - BASE) % 10000 == 0) == len(SECONDS)

    late = result["late_event_time"]
    assert late == BASE + max(SECONDS) * 1000 - 3600 * 1000
    assert not any(start <= late < end for start, end in got), "the late event was counted"
    assert result["dropped_late_rows"] == 2  # one row per window of the late event
    assert re.search(r"watermark 00:00:16, DROPPED 2 late rows|DROPPED 2 late rows", proc.output)
    assert result["messages"] == len(SECONDS) + 2  # on-time events, the bad one, the late one
    assert result["malformed"] == 1 and malformed_reported(proc.output) == [bad]
    assert result["batches"] >= 2

    # The same windows went back into Kafka (Spark's Kafka sink): keyed by their start,
    # the newest message of each key holds the window's count, every count exact.
    output = f"{topic}-windows"  # the default output topic
    try:
        records = read_records(output)
    finally:
        delete_topics(output)
        shutil.rmtree(ROOT / "day2/windowed_sum/checkpoints" / output, ignore_errors=True)
    newest = {}
    for key, value in records:
        if key != "watermark":
            assert key == str(value["start"]) and value["end"] - value["start"] == 10_000, (key, value)
            newest[value["start"], value["end"]] = value["count"]
    assert newest == expected_windows(SECONDS)
    # ... and the job's watermark after each micro-batch, with the rows dropped as late
    progress = [value for key, value in records if key == "watermark"]
    assert sum(p["dropped"] for p in progress) == 2
    assert progress[-1]["watermark"] == BASE + max(SECONDS) * 1000 - 10_000  # newest event - 10 s


def test_solution_append_mode(new_topic, produce):
    topic, bad = events_with_a_bad_one(new_topic, produce)
    # The late event arrives in a second micro-batch, which runs with the watermark
    # of the first (26 s - 10 s): it closes the windows that end by 16 s.
    proc = run_exercise(RUN, "solutions/append_mode.py", "--topic", topic,
                        "--starting-offsets", "earliest", "--demo-late",
                        "--max-messages", len(SECONDS) + 2)
    assert_clean_output(proc.output)
    result = final(proc.output)
    closed = {k: n for k, n in expected_windows(SECONDS).items() if k[1] <= BASE + 16_000}
    assert {(start, end): n for start, end, n in result["windows"]} == closed
    # Each window printed once, final: never updated.
    printed = re.findall(r"^    \d\d:\d\d:\d\d-\d\d:\d\d:\d\d", proc.output, re.MULTILINE)
    assert len(printed) == len(closed)
    assert result["malformed"] == 1 and malformed_reported(proc.output) == [bad]
