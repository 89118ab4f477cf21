"""The README transcripts of the exercises whose runs take minutes (the DStream
soliloquy, k-means training, a drifting regression): compared with a real run, as in
test_transcripts.py, in a file of their own so that pytest-xdist runs them beside it."""

import pytest
from test_transcripts import SLOW, name, readme_check
from transcripts import READMES, checked_blocks, exercise


@pytest.mark.slow
@pytest.mark.parametrize("readme", [r for r in READMES if checked_blocks(r) and exercise(r) in SLOW],
                         ids=name)
def test_readme_transcripts_are_what_a_run_prints(readme, kafka_server):
    readme_check(readme)
