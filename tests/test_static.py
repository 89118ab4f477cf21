"""Static checks: what cannot run here (Docker) and what keeps the course consistent
(pinned versions agree, every exercise folder is complete, linters pass)."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

FOLDERS = ("day1", "day2", "advanced")
EXERCISES = sorted(p.parent for f in FOLDERS for p in ROOT.glob(f"{f}/*/run.sh"))
DOCKERFILES = sorted(p for f in FOLDERS for p in ROOT.glob(f"{f}/*/Dockerfile"))


def versions():
    text = (ROOT / "infra/versions.sh").read_text()
    return dict(re.findall(r"^(\w+_VERSION|SCALA_BINARY)=(\S+)", text, re.MULTILINE))


def pins(path):
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.relative_to(ROOT)}: '{line}' is not pinned with =="
            found[name.lower()] = version
    return found


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_course_has_its_exercises():
    names = {p.name for p in EXERCISES}
    assert {"simple_producer", "simple_consumer"} <= names


@pytest.mark.parametrize("folder", EXERCISES, ids=lambda p: p.name)
def test_exercise_folder_is_complete(folder):
    for name in ("run.sh", "Dockerfile", "requirements.txt", "README.md"):
        assert (folder / name).is_file(), f"{folder.name}/{name} is missing"
    assert (folder / "run.sh").stat().st_mode & 0o111, f"{folder.name}/run.sh is not executable"
    readme = (ROOT / "README.md").read_text()
    assert f"{folder.parent.name}/{folder.name}" in readme, f"README.md does not link {folder.name}"


def test_pinned_versions_agree():
    v = versions()
    root = pins(ROOT / "requirements.txt")
    assert root["pyspark"] == v["SPARK_VERSION"], "requirements.txt pyspark != infra/versions.sh"
    assert compose()["services"]["kafka"]["image"] == f"apache/kafka:{v['KAFKA_VERSION']}"
    kafka_sums = (ROOT / "infra/checksums/kafka.sha256").read_text()
    spark_sums = (ROOT / "infra/checksums/spark-kafka.sha256").read_text()
    assert f"kafka_{v['SCALA_BINARY']}-{v['KAFKA_VERSION']}.jar" in kafka_sums
    assert f"spark-sql-kafka-0-10_{v['SCALA_BINARY']}-{v['SPARK_VERSION']}.jar" in spark_sums
    for folder in EXERCISES:
        for name, version in pins(folder / "requirements.txt").items():
            assert root.get(name) == version, f"{folder.name}: {name}=={version}, root has {root.get(name)}"
    # The Spark images' shared first layer
    for name, version in pins(ROOT / "infra/requirements-spark.txt").items():
        assert root.get(name) == version, f"infra/requirements-spark.txt: {name}=={version}"


def test_every_mention_of_the_spark_connector_names_the_pinned_version():
    """Scripts' comments, READMEs, Dockerfiles and the compose file name the connector
    (`spark-sql-kafka-0-10_2.13:4.2.0`, or its jar): the version a maintainer pinned."""
    v = versions()
    mention = re.compile(r"spark-sql-kafka-0-10_(\d+\.\d+)[:-](\d+\.\d+\.\d+)")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    found = 0
    for name in files:
        path = ROOT / name
        if path.suffix not in (".py", ".md", ".sh", ".yml", ".txt", ".conf", "") or not path.is_file():
            continue
        for scala, spark in mention.findall(path.read_text(errors="replace")):
            found += 1
            assert (scala, spark) == (v["SCALA_BINARY"], v["SPARK_VERSION"]), \
                f"{name} names the connector {scala}:{spark}; infra/versions.sh pins {v['SPARK_VERSION']}"
    assert found > 10, "the scripts no longer name the connector they use"
    major_minor = ".".join(v["SPARK_VERSION"].split(".")[:2])
    assert f"PySpark {major_minor}" in (ROOT / "README.md").read_text(), "README.md's headline version"


def test_compose_file_runs_one_kraft_broker_reachable_from_host_and_containers():
    services = compose()["services"]
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:\d+\.\d+\.\d+", kafka["image"]), "pin an exact image version"
    for port in kafka["ports"]:
        assert str(port).startswith("127.0.0.1:"), f"port {port} is not bound to 127.0.0.1"
    env = {k: str(v) for k, v in kafka["environment"].items()}
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft combined node
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert "HOST://localhost:${KAFKA_HOST_PORT:-9092}" in advertised  # 9092 unless KAFKA_HOST_PORT is set
    in_network = [a.split("//")[1] for a in advertised if a.split("//")[1].startswith("kafka:")]
    assert in_network, "no listener for other containers"
    for name in ("KAFKA_LISTENERS", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"):
        for listener in ("HOST", "DOCKER", "CONTROLLER"):
            assert listener in env[name]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert "healthcheck" in kafka and kafka["healthcheck"]["test"]

    apps = {name: s for name, s in services.items() if "build" in s}
    assert {"simple_producer", "simple_consumer"} <= set(apps)
    for name, service in apps.items():
        assert service.get("profiles"), f"{name} must sit behind a profile (up -d kafka = broker only)"
        assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        assert service["environment"]["KAFKA_SERVER"] in in_network
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"


def dockerfile_instructions(path):
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    rows = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in rows if line and not line.startswith("#")]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile(dockerfile):
    steps = dockerfile_instructions(dockerfile)
    base = [args for op, args in steps if op == "FROM"]
    assert base and all(re.search(r":\d+\.\d+\.\d+", b) for b in base), f"unpinned base image {base}"
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the container must run as a non-root user"
    for op, args in steps:
        if op == "COPY" and "--from=" not in args:  # --from: a file of another image
            *sources, _ = [w for w in shlex.split(args) if not w.startswith("--")]  # --chown=...
            for source in sources:  # the build context is the repository root
                assert (ROOT / source).exists(), f"COPY source {source} does not exist"
    cmd = [args for op, args in steps if op == "CMD"]
    assert cmd, "no CMD"
    words = yaml.safe_load(cmd[-1])  # the exec form is a JSON/YAML list
    scripts = [w for w in words if w.endswith((".sh", ".py"))]
    assert scripts and all((ROOT / s).is_file() for s in scripts), f"CMD {words} names no existing file"


def test_shellcheck_passes_on_every_shell_script():
    scripts = subprocess.run(["git", "ls-files", "*.sh", ".ci/run"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    scripts += [str((folder / "run.sh").relative_to(ROOT)) for folder in EXERCISES]
    shellcheck = Path(sys.executable).parent / "shellcheck"
    result = subprocess.run([str(shellcheck), "-S", "warning", "-x", *sorted(set(scripts))], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_passes():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
