"""day1/autodatascientist: the producer's rounds reach the consumer intact, the
reference solution plays them and its scoreboard adds up, bad input is skipped."""

import json
import re
import time

import pytest

from conftest import assert_clean_output, json_lines, read_topic, run_exercise

RUN = "day1/autodatascientist/run.sh"



def produce_rounds(topic, count):
    out = run_exercise(RUN, "producer", "--topic", topic, "--count", count, "--interval", 0).output
    assert_clean_output(out)
    delivered = re.findall(rf"round (\d+): score ([\d.]+) -> {topic} partition 0 offset (\d+)", out)
    assert sorted(int(offset) for _, _, offset in delivered) == list(range(count)), out
    return delivered


def test_consumer_rebuilds_exactly_what_was_sent(kafka_server, new_topic, produce):
    topic = new_topic()
    produce_rounds(topic, 3)
    sent = read_topic(topic, 3)
    assert len(sent) == 3
    assert all(len(m["rows"]) == 10 and all(len(r["x"]) == 5 for r in m["rows"]) for m in sent)
    bad = [
        "this is not JSON",
        {"rows": [{"x": [1.0, 2.0], "label": 0}, {"x": [1.0], "label": 1}], "score": 0.5},
        {"rows": [{"x": [1.0, 2.0], "label": 0}, {"x": [3.0, 4.0], "label": 1}]},
    ]
    produce(topic, bad)  # offsets 3, 4, 5: not JSON, ragged matrix, no score

    # The topic comes from env CONSUME_TOPICS, as in the original course.
    run = run_exercise(RUN, "consumer", "--max-messages", 6, "--json",
                       env={"CONSUME_TOPICS": topic}, timeout=90)
    assert_clean_output(run.output)
    rebuilt = [line for line in json_lines(run.stdout) if "X" in line]
    assert [line["offset"] for line in rebuilt] == [0, 1, 2]
    for line, message in zip(rebuilt, sent, strict=True):
        assert line["X"] == [row["x"] for row in message["rows"]]  # exact floats
        assert line["y"] == [row["label"] for row in message["rows"]]
        assert line["score"] == message["score"]
    for offset in (3, 4, 5):  # one warning each, naming where the message is
        assert len(re.findall(rf"warning: skipped {topic} partition 0 offset {offset}:",
                              run.output)) == 1, run.output
    final = json.loads(run.stdout.split("FINAL ", 1)[1].splitlines()[0])
    assert final == {"messages": 6, "datasets": 3, "skipped": 3}


def test_solution_plays_every_round_and_the_scoreboard_adds_up(kafka_server, new_topic):
    topic = new_topic()
    rounds = 4
    delivered = produce_rounds(topic, rounds)
    claimed = {int(offset): float(score) for _, score, offset in delivered}

    run = run_exercise(RUN, "solution", "--topic", topic, "--max-messages", rounds, "--json",
                       timeout=150)
    assert_clean_output(run.output)
    played = [line for line in json_lines(run.stdout) if "round" in line]
    assert [p["round"] for p in played] == list(range(1, rounds + 1))
    assert [p["offset"] for p in played] == list(range(rounds))
    for p in played:
        # It plays against the score the producer sent, and says how it evaluated.
        assert p["producer_score"] == pytest.approx(claimed[p["offset"]], abs=5e-4)
        assert 0.0 <= p["score"] <= 1.0
        assert round(p["score"] * 10) == pytest.approx(p["score"] * 10)  # k of 10 rows right
        assert p["win"] == (p["score"] > p["producer_score"])
        assert p["fair_win"] == (p["score"] > p["producer_model_loo"])
    assert run.stdout.count("nested leave-one-out accuracy") == rounds

    final = json.loads(run.stdout.split("FINAL ", 1)[1].splitlines()[0])
    assert final["rounds"] == rounds
    assert final["wins"] == sum(p["win"] for p in played)
    assert final["fair_wins"] == sum(p["fair_win"] for p in played)
    assert final["mean_score"] == pytest.approx(sum(p["score"] for p in played) / rounds)
    assert final["producer_mean_score"] == pytest.approx(
        sum(p["producer_score"] for p in played) / rounds)
    assert final["skipped"] == 0


def test_no_broker_one_line_and_non_zero_exit():
    # 127.0.0.2 is this machine too, but nothing listens on port 9: refused at once.
    start = time.monotonic()
    run = run_exercise(RUN, "consumer", "--max-messages", 1, check=False,
                       env={"KAFKA_SERVER": "127.0.0.2:9"}, timeout=60)
    elapsed = time.monotonic() - start
    assert run.returncode != 0
    assert_clean_output(run.output)
    errors = [line for line in run.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "127.0.0.2:9" in errors[0] and "kafka.sh start" in errors[0]
    assert elapsed < 15, f"took {elapsed:.1f} s to give up"


def test_run_sh_needs_a_script_name():
    run = run_exercise(RUN, check=False)
    assert run.returncode == 2
    assert "producer|consumer|solution" in run.output
