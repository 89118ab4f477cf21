"""What a README shows is what a student sees: every "What you should see" block names
the command that produced it, and the blocks whose input is fixed are run again here,
as a student runs them, and compared with the README (tests/transcripts.py masks what
changes from run to run: clock times, durations, ports, temporary folders). The
READMEs whose runs take minutes are in test_transcripts_slow.py.

When a script's output changes on purpose, regenerate the blocks, then read the diff:
    .venv/bin/python tests/transcripts.py [FOLDER ...]
"""

import re

import pytest
from transcripts import READMES, check, checked_blocks, exercise, parse

from conftest import ROOT, assert_clean_output

# Minutes of Spark runs each: test_transcripts_slow.py runs them (marked slow).
SLOW = {"day2/stateful_wordcount", "day2/twitter_cluster", "day2/trendy_prices"}


def name(readme):
    return str(readme.relative_to(ROOT).parent)


def readme_check(readme):
    """Run a README's tested blocks; fail with what differs, and how to regenerate."""
    problems = check(readme, on_output=assert_clean_output)
    assert not problems, ("\n\n".join(problems) + "\n\nIf the change is intended: "
                          f".venv/bin/python tests/transcripts.py {exercise(readme)}")


@pytest.mark.parametrize("readme", [r for r in READMES if r.parent.name != "solutions"], ids=name)
def test_every_what_you_should_see_block_names_its_command(readme):
    """A block under "What you should see" has a transcript marker and $ lines, and a
    live one (check=keys) still shows the FINAL line whose keys it is checked on."""
    lines = readme.read_text().splitlines()
    if "## What you should see" not in lines:
        return
    start = lines.index("## What you should see")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    fences = sum(line.startswith("```") for line in lines[start:end]) // 2
    blocks = [b for b in parse(readme) if start < b.start < end]
    assert fences and len(blocks) == fences, \
        f"{name(readme)}: {fences} blocks, {len(blocks)} with a transcript marker"
    for block in blocks:
        if block.check == "keys":
            assert any(re.match(r"(FINAL|RESULT) \{", line) for line in block.shown), block.name


@pytest.mark.parametrize("readme", [r for r in READMES if checked_blocks(r) and exercise(r) not in SLOW],
                         ids=name)
def test_readme_transcripts_are_what_a_run_prints(readme, kafka_server):
    readme_check(readme)
