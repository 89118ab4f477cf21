"""day1/autodatascientist: the producer's rounds reach the consumer intact, the
reference solution plays them and its scoreboard adds up, bad input is skipped.
(No broker: tests/test_no_broker.py.)"""

import re

import pytest

from conftest import assert_clean_output, final, json_lines, malformed_reported, read_topic, run_exercise

RUN = "day1/autodatascientist/run.sh"
SOLUTION = "solutions/honest_scoreboard.py"


def produce_rounds(topic, count):
    """Run the producer (run.sh's default part) and return {offset: claimed score}."""
    out = run_exercise(RUN, "--topic", topic, "--count", count, "--interval", 0).output
    assert_clean_output(out)
    delivered = re.findall(rf"^round (\d+): score ([\d.]+), delivered to {topic}/0/(\d+)$", out,
                           re.MULTILINE)
    assert sorted(int(offset) for _, _, offset in delivered) == list(range(count)), out
    assert final(out) == {"delivered": count, "failed": 0}
    return {int(offset): float(score) for _, score, offset in delivered}


def test_consumer_rebuilds_exactly_what_was_sent_and_commits(kafka_server, new_topic, produce):
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
    group = f"g-{topic}"
    run = run_exercise(RUN, "consumer", "--max-messages", 6, "--json", "--group", group,
                       env={"CONSUME_TOPICS": topic}, timeout=90)
    assert_clean_output(run.output)
    rebuilt = [line for line in json_lines(run.stdout) if "X" in line]
    assert [line["offset"] for line in rebuilt] == [0, 1, 2]
    for line, message in zip(rebuilt, sent, strict=True):
        assert line["X"] == [row["x"] for row in message["rows"]]  # exact floats
        assert line["y"] == [row["label"] for row in message["rows"]]
        assert line["score"] == message["score"]
    assert malformed_reported(run.output) == [(topic, 0, 3), (topic, 0, 4), (topic, 0, 5)]
    assert final(run.output) == {"messages": 6, "malformed": 3, "datasets": 3}

    # Every message handled was committed: the same group resumes after them.
    extra = produce(topic, [{"rows": sent[0]["rows"], "score": 0.5}])
    again = run_exercise(RUN, "consumer", "--topic", topic, "--group", group, "--seconds", 4,
                         "--json")
    assert [line["offset"] for line in json_lines(again.stdout)] == [extra[0][1]]
    assert final(again.output) == {"messages": 1, "malformed": 0, "datasets": 1}


def test_solution_plays_every_round_and_the_scoreboard_adds_up(kafka_server, new_topic, produce):
    topic = new_topic()
    rounds = 3
    claimed = produce_rounds(topic, rounds)
    produce(topic, ["not a round"])  # offset 3

    run = run_exercise(RUN, SOLUTION, "--topic", topic, "--max-messages", rounds + 1, "--json",
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
    assert malformed_reported(run.output) == [(topic, 0, 3)]

    board = final(run.output)
    assert (board["messages"], board["malformed"], board["rounds"]) == (rounds + 1, 1, rounds)
    assert board["wins"] == sum(p["win"] for p in played)
    assert board["fair_wins"] == sum(p["fair_win"] for p in played)
    assert board["mean_score"] == pytest.approx(sum(p["score"] for p in played) / rounds)
    assert board["producer_mean_score"] == pytest.approx(
        sum(p["producer_score"] for p in played) / rounds)


def test_run_sh_parts():
    # No part: the producer, the README's first step (shown by its --help).
    default = run_exercise(RUN, "--help")
    assert "(the default)" in default.output and "producer" in default.output
    assert "consumer" in default.output and "solutions/NAME.py" in default.output
    producer_help = run_exercise(RUN, "--count", 1, "--help")
    assert "--interval" in producer_help.stdout and "--samples" in producer_help.stdout
    unknown = run_exercise(RUN, "solution", check=False)
    assert unknown.returncode == 2 and "unknown part 'solution'" in unknown.output
