"""The course speaks one language (README.md, "Conventions"): every script's --help
uses the shared option names, lessons stay short enough to read, every run.sh picks
its parts the same way, every producer shows delivery reports and flushes, every
consumer commits what it handled, and every exercise has tested solutions.

These run each script's --help for real, outside run.sh, with the course's Python:
the usage a docstring shows works."""

import ast
import io
import re
import subprocess
import sys
import tempfile
import tokenize

import pytest

from conftest import ROOT

FOLDERS = ("day1", "day2", "advanced")
EXERCISES = sorted(p.parent for f in FOLDERS for p in ROOT.glob(f"{f}/*/run.sh"))
SOURCES = sorted(p for f in FOLDERS for p in ROOT.glob(f"{f}/*/**/*.py"))
SCRIPTS = [p for p in SOURCES if "argparse" in p.read_text()]
TESTS = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))

# Names the course does not use: each idea has one name (see the README's table).
RETIRED = {"--batch-interval": "--batch-seconds", "--from-beginning": "--starting-offsets",
           "--batch-size": "--max-per-batch", "--bad-messages": "malformed"}


def rel(path):
    return str(path.relative_to(ROOT))


def code_lines(path):
    """Lines of code: not blank, not a comment, not part of a docstring."""
    source = path.read_text(encoding="utf-8")
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    lines = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstrings)


def options(script):
    """The option names a script's --help lists."""
    proc = subprocess.run([sys.executable, str(script), "--help"], cwd=script.parent,
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": tempfile.gettempdir()})
    assert proc.returncode == 0, f"{rel(script)} --help failed:\n{proc.stderr[-2000:]}"
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", proc.stdout)), proc.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=rel)
def test_help_uses_the_shared_option_names(script):
    names, text = options(script)
    source = script.read_text()
    for old, new in RETIRED.items():
        assert old not in names, f"{rel(script)}: {old} is called {new} in this course"
    if "--topics" in names:
        assert script.name == "simple_consumer.py", "--topics is for a multi-topic consumer only"
    if rel(script).startswith("advanced/"):
        return  # a scenario that runs its own producers and consumers: its own options
    reads_a_stream = any(call in source for call in
                         ("KafkaConsumer(", "readStream", "socketTextStream", "queueStream"))
    if "KafkaProducer(" in source and not reads_a_stream:  # a producer
        assert {"--topic", "--count", "--interval"} <= names, f"{rel(script)}: {sorted(names)}"
    if reads_a_stream:  # a consumer or streaming job: bounded runs
        assert "--seconds" in names, f"{rel(script)} has no bounded mode: {sorted(names)}"
    if "KafkaConsumer(" in source or "readStream" in source or "KafkaSocketBridge" in source:
        assert "--max-messages" in names, f"{rel(script)}: {sorted(names)}"
    if "StreamingContext(" in source:
        assert "--batch-seconds" in names, f"{rel(script)}: a DStream job names its interval so"


@pytest.mark.parametrize("script", SOURCES, ids=rel)
def test_a_lesson_fits_on_a_screen_or_two(script):
    limit = 70 if script.name in ("simple_sparkstream.py", "simple_structuredstreaming.py") else 120
    assert code_lines(script) <= limit, f"{rel(script)}: {code_lines(script)} lines of code > {limit}"


@pytest.mark.parametrize("script", SCRIPTS, ids=rel)
def test_the_lesson_calls_are_in_the_script(script):
    source = script.read_text()
    assert "spark_course" not in source
    assert "no Kafka broker answers" not in source, "the no-broker message lives in course.py only"
    assert 'print("FINAL' not in source and "print(f\"FINAL" not in source, "use course.final()"
    if "readStream" in source or "StreamingContext(" in source:
        assert "SparkSession.builder" in source or "SparkContext(" in source
        assert "awaitTermination()" in source, f"{rel(script)}: the live run ends in awaitTermination()"
    if "readStream" in source:
        assert "spark-sql-kafka-0-10" in source, f"{rel(script)}: name the Kafka connector where it is used"
    if 'readStream.format("kafka")' in source and rel(script).startswith("day2/"):
        # the lessons' first batch would wait 0.5 s per task wave (course README, "How fast
        # a Spark exercise starts"); the advanced labs keep Kafka's default, as Spark ships it
        assert '.option("kafka.fetch.max.wait.ms", 10)' in source, \
            f"{rel(script)}: set it on the Kafka source (README, 'How fast a Spark exercise starts')"
    if "KafkaProducer(" in source:  # delivery reports, and nothing lost at exit
        assert "add_callback" in source or ".get(timeout" in source, f"{rel(script)}: no delivery report"
        assert "flush(" in source or ".close(" in source, f"{rel(script)}: no flush() before exit"
    if "KafkaProducer(" in source and '"--count"' in source:  # a producer: the same in an outage
        for call in ("delivery_timeout_ms=course.DELIVERY_TIMEOUT_MS", "course.flush(producer, ctrl_c)",
                     "course.producer_final("):
            assert call in source, f"{rel(script)}: a producer ends an outage as the others do: {call}"
    if "KafkaConsumer(" in source:  # commit what was handled, after handling it
        assert "enable_auto_commit=False" in source and ".commit(" in source, rel(script)


@pytest.mark.parametrize("folder", EXERCISES, ids=lambda p: p.name)
def test_run_sh_parts(folder):
    run_sh = rel(folder / "run.sh")
    usage = subprocess.run(["bash", run_sh, "--help"], cwd=ROOT, capture_output=True, text=True)
    assert usage.returncode == 0 and "Usage:" in usage.stdout, usage.stdout + usage.stderr
    assert "(the default)" in usage.stdout, f"{run_sh} --help must say which part is the default"
    wrong = subprocess.run(["bash", run_sh, "no-such-part"], cwd=ROOT, capture_output=True,
                           text=True)
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    assert "unknown part 'no-such-part'" in wrong.stderr and "Usage:" in wrong.stderr


@pytest.mark.parametrize("folder", EXERCISES, ids=lambda p: p.name)
def test_every_exercise_has_tested_solutions(folder):
    solutions = folder / "solutions"
    assert (solutions / "README.md").is_file(), f"{folder.name}: solutions/README.md is missing"
    readme = (folder / "README.md").read_text()
    assert "solutions/" in readme, f"{folder.name}/README.md does not point to its solutions"
    for script in sorted(solutions.glob("*.py")):
        assert f"solutions/{script.name}" in TESTS, f"no test runs {rel(script)}"
