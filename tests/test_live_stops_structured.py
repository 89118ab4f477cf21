"""The live stops of test_live_stops.py, for the Structured Streaming parts: fed live,
stopped by their bound and by Ctrl-C, quiet, and every message read counted once."""

import pytest

from conftest import final
from test_live_stops import PARTS, STRUCTURED_PARTS, assert_quiet_stop, delete_topic, live_run, train_model


@pytest.fixture(scope="module")
def model(tmp_path_factory, kafka_server):
    return train_model(tmp_path_factory.mktemp("live_stops"))


@pytest.mark.parametrize("stop", ["bound", "sigint"])
@pytest.mark.parametrize("name", STRUCTURED_PARTS)
def test_a_live_structured_stop_is_quiet_and_counts_each_message_once(name, stop, tmp_path, request):
    needs_model = "{model}" in PARTS[name].run
    output, rc, _, run = live_run(name, stop, tmp_path,
                                  model=request.getfixturevalue("model") if needs_model else None)
    try:
        assert_quiet_stop(output, rc, stop, PARTS[name].batch)
        PARTS[name].check(final(output), output, run)
    finally:
        delete_topic(run.topic)
