"""setup.sh and run.sh say what is wrong with the machine, in one line, before
anything starts: Python too old, Java too old or too new for Spark."""

import time

from conftest import run_exercise


def fake_program(tmp_path, name, version_output, exit_code=0):
    """A stand-in for java/python that only reports a version (on stderr, as java
    does) and exits with exit_code, whatever it is asked."""
    bin_dir = tmp_path / name / "bin"
    bin_dir.mkdir(parents=True)
    exe = bin_dir / name
    exe.write_text(f"#!/bin/sh\necho '{version_output}' >&2\nexit {exit_code}\n")
    exe.chmod(0o755)
    return exe


def one_error_line(output):
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert "Traceback" not in output and "Exception" not in output
    return errors[0]


def test_setup_refuses_java_that_is_too_old(tmp_path):
    java = fake_program(tmp_path, "java", 'openjdk version "11.0.22" 2024-01-16')
    start = time.monotonic()
    proc = run_exercise("setup.sh", env={"JAVA_HOME": str(java.parent.parent)}, check=False)
    assert proc.returncode != 0 and time.monotonic() - start < 10
    error = one_error_line(proc.output)
    assert "Java 11 is too old" in error and "JAVA_HOME" in error


def test_spark_exercise_refuses_java_that_is_too_new(tmp_path):
    java = fake_program(tmp_path, "java", 'openjdk version "25.0.1" 2025-10-21')
    proc = run_exercise("day2/simple_structuredstreaming/run.sh", "--seconds", 1,
                        env={"JAVA_HOME": str(java.parent.parent)}, check=False, timeout=30)
    assert proc.returncode != 0
    error = one_error_line(proc.output)
    assert "Java 25 is too new for Spark" in error and "17" in error


def test_setup_refuses_python_that_is_too_old(tmp_path):
    # asked "is sys.version_info >= (3, 11)?", a Python 3.10 exits 1
    python = fake_program(tmp_path, "python3", "Python 3.10.12", exit_code=1)
    proc = run_exercise("setup.sh", env={"PYTHON": str(python)}, check=False)
    assert proc.returncode != 0
    assert "is not Python 3.11 or newer" in one_error_line(proc.output)


def test_setup_is_idempotent(kafka_server):
    # A second run (the suite runs after setup.sh) finds everything done and changes nothing.
    proc = run_exercise("setup.sh", timeout=120)
    assert proc.output.count("up to date") == 2  # the .venv, Spark's class-data archive
    assert proc.output.count("already resolved and verified") == 2
    assert f"a broker already answers on {kafka_server}" in proc.output
