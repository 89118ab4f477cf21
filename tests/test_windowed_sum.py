"""day2/windowed_sum: the DStream window + union example (lastTwoSum) and the
Structured Streaming event-time windows with a watermark, where a late event is
dropped."""

import json
import re

from conftest import assert_clean_output, run_exercise

RUN = "day2/windowed_sum/run.sh"


def final(output):
    found = [line[len("FINAL "):] for line in output.splitlines() if line.startswith("FINAL ")]
    assert len(found) == 1, f"expected one FINAL line:\n{output[-3000:]}"
    return json.loads(found[0])


def test_dstream_last_two_sum():
    count = 6
    proc = run_exercise(RUN, "dstream", "--count", count, timeout=240)
    assert_clean_output(proc.output)
    # lastTwoSum is the sum over a 2 s window of 1 s batches: x plus the previous
    # value; at x=1 the window holds only the first batch, so it is 1.
    expected = [[x, x + (x - 1)] for x in range(1, count + 1)]
    assert final(proc.output)["pairs"] == expected
    # What the student sees: per batch, ('value', x) then ('lastTwoSum', s).
    printed = re.findall(r"^\('(value|lastTwoSum)', (\d+)\)$", proc.output, re.MULTILINE)
    pairs = [printed[i:i + 2] for i in range(0, len(printed), 2)]
    assert [[int(v), int(s)] for (_, v), (_, s) in pairs] == expected
    assert all(k1 == "value" and k2 == "lastTwoSum" for (k1, _), (k2, _) in pairs)


def test_event_time_windows_and_a_late_event(new_topic, produce):
    topic = new_topic()
    base = 1_704_067_200_000  # 2024-01-01 00:00:00 UTC, a multiple of the 5 s slide
    # Event times in seconds after base; 9 comes after 26: out of order, but
    # within the 10 s watermark (and in the same micro-batch), so it counts.
    seconds = [1, 2, 3, 6, 7, 12, 13, 14, 18, 21, 26, 9]
    produce(topic, [{"time": base + s * 1000, "msg": "Hello, World!"} for s in seconds])
    [(partition, bad_offset)] = produce(topic, ["Hello, World! (not JSON)"])

    # --demo-late: after the first batch the job sends an event an hour older
    # than the newest one; it must be dropped by the watermark, not counted.
    proc = run_exercise(RUN, "events", "--topic", topic, "--starting-offsets", "earliest",
                        "--demo-late", "--max-messages", len(seconds) + 2, timeout=300)
    assert_clean_output(proc.output)
    result = final(proc.output)

    # 10 s windows every 5 s: an event at s is in the windows starting at the
    # multiples of 5 in (s - 10, s].
    expected = {}
    for s in seconds:
        for start in range((s // 5) * 5 - 5, s + 1, 5):
            if start <= s < start + 10:
                key = (base + start * 1000, base + (start + 10) * 1000)
                expected[key] = expected.get(key, 0) + 1
    got = {(start, end): n for start, end, n in result["windows"]}
    assert got == expected
    assert sum(n for (start, _), n in got.items() if (start - base) % 10000 == 0) == len(seconds)

    late = result["late_event_time"]
    assert late == base + max(seconds) * 1000 - 3600 * 1000
    assert not any(start <= late < end for start, end in got), "the late event was counted"
    assert result["dropped_late_rows"] >= 1
    assert re.search(r"DROPPED \d+ late rows", proc.output)
    assert result["messages"] == len(seconds) + 2  # on-time events, the bad one, the late one
    assert result["bad_messages"] == 1
    assert f"{topic}/{partition}/{bad_offset}" in proc.output
