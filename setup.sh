#!/usr/bin/env bash
# One-time set-up of the course; safe to run again (it skips what is done).
#
#   bash setup.sh
#
# 1. checks Python >= 3.11 and Java 17+ (Spark 4 and Kafka 4 need it);
# 2. makes .venv and installs the pinned requirements.txt into it;
# 3. resolves, once, the Kafka broker jars and Spark's Kafka connector, so that no
#    exercise downloads anything later (a live demo never waits on the network);
# 4. starts a Kafka broker: the Docker one when a Docker engine runs, otherwise
#    the local one (bash infra/kafka.sh). COURSE_BROKER=local|docker chooses;
# 5. makes Spark's class-data archive, which starts every Spark exercise sooner.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=infra/common.sh
source infra/common.sh

step() { echo; echo "==> $*"; }

step "Checking Python and Java"
version_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
python=${PYTHON:-}
if [ -n "$python" ]; then
  version_ok "$python" || die "PYTHON=$python is not Python 3.11 or newer. Fix: point PYTHON at a Python 3.11+ or unset it"
else
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && version_ok "$candidate"; then
      python=$candidate; break
    fi
  done
fi
[ -n "$python" ] || die "Python 3.11 or newer not found. Fix: install Python 3.11+ (python.org, 'brew install python@3.12', 'sudo apt install python3') or set PYTHON=/path/to/python3.11"
"$python" -c 'import venv, ensurepip' 2>/dev/null || die "$python has no venv module. Fix: sudo apt install python3-venv (Debian/Ubuntu), then bash setup.sh again"
require_java
echo "Python: $("$python" --version 2>&1) ($(command -v "$python")); Java: $(java_major)"

step "Python packages (.venv)"
stamp="$COURSE_VENV/.requirements.sha256"
want=$(sha256_sum requirements.txt | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$COURSE_VENV/bin/python" ]; then
  echo "up to date"
else
  [ -x "$COURSE_VENV/bin/python" ] || "$python" -m venv "$COURSE_VENV"
  "$COURSE_VENV/bin/python" -m pip install --quiet --upgrade pip
  echo "installing requirements.txt (pyspark is a large download: a few minutes the first time) ..."
  "$COURSE_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
  echo "installed"
fi
# The course's helpers (infra/python) on the venv's path: `.venv/bin/python script.py`
# works as well as `bash run.sh`.
site=$("$COURSE_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$COURSE_ROOT/infra/python" > "$site/course.pth"

step "Kafka broker jars and Spark's Kafka connector (resolved once, then cached)"
bash infra/fetch_jars.sh kafka
bash infra/fetch_jars.sh spark-kafka

step "A Kafka broker on $KAFKA_SERVER"
# run.sh starts the course's broker on its own only on this address (infra/common.sh).
mkdir -p "$COURSE_LOCAL"
echo "$KAFKA_SERVER" > "$COURSE_LOCAL/kafka.address"
broker=${COURSE_BROKER:-}
if [ -z "$broker" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then broker=docker; else broker=local; fi
fi
if broker_answers; then
  echo "a broker already answers on $KAFKA_SERVER"
elif [ "$broker" = docker ]; then
  echo "Docker engine found: docker compose up -d --wait kafka"
  docker compose up -d --wait kafka
else
  echo "no Docker engine: using the local broker (bash infra/kafka.sh start)"
  bash infra/kafka.sh start
fi

step "Spark's class-data archive: a faster start for every Spark exercise (once; about 240 MB)"
# Spark's JVM loads some 20,000 classes at every start; Java's class-data sharing keeps them
# ready in an archive, made by running a small Spark job once (infra/python/spark_archive.py),
# after the broker starts, so that Spark's Kafka classes are in it too.
"$COURSE_PYTHON" infra/python/spark_archive.py

cat <<'NEXT'

Set-up done. What next:
  bash day1/simple_producer/run.sh          # terminal 1: send a message every 0.5 s
  bash day1/simple_consumer/run.sh          # terminal 2: read them (Ctrl-C stops either)
  bash infra/kafka.sh status                # is the broker up?  (stop | start | logs)
  .venv/bin/python -m pytest tests          # the course's test suite
NEXT
