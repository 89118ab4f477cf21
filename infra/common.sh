# shellcheck shell=bash
# Shell plumbing shared by setup.sh, infra/*.sh and every exercise's run.sh.
# Source it; it defines functions and environment defaults and runs nothing else.
#
# Environment (the names every exercise shares):
#   KAFKA_SERVER   broker address            default localhost:9092
#   SPARK_MASTER   Spark master URL          default local[*]
#   SPARK_LOCAL_IP address Spark binds to    default 127.0.0.1 (no loopback warning)
#   SPARK_UI       "off": no Spark web UI     default on (the tests turn it off)

COURSE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COURSE_LOCAL="$COURSE_ROOT/infra/local"      # git-ignored: jars, broker data, logs
# The local broker's own files (data, log, pid, port): infra/local unless KAFKA_BROKER_DIR
# names another folder. With another port in KAFKA_SERVER, that runs a second, separate
# broker beside the course's one (the outage tests stop and start one of their own):
#   KAFKA_BROKER_DIR=/tmp/broker2 KAFKA_SERVER=localhost:29092 bash infra/kafka.sh start
KAFKA_BROKER_DIR="${KAFKA_BROKER_DIR:-$COURSE_LOCAL}"
COURSE_VENV="$COURSE_ROOT/.venv"
# Inside the exercise containers there is no .venv: the image's python3 has the
# packages (the Dockerfiles set COURSE_SYSTEM_PYTHON=1).
if [ -n "${COURSE_SYSTEM_PYTHON:-}" ]; then
  COURSE_PYTHON=$(command -v python3)
else
  COURSE_PYTHON="$COURSE_VENV/bin/python"
fi
# shellcheck source=infra/versions.sh
source "$COURSE_ROOT/infra/versions.sh"

export KAFKA_SERVER="${KAFKA_SERVER:-localhost:9092}"
export SPARK_MASTER="${SPARK_MASTER:-local[*]}"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"

die() { echo "error: $*" >&2; exit 1; }
say() { echo "[course] $*" >&2; }

sha256_sum() { if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi; }
sha256_check() { if command -v sha256sum >/dev/null; then sha256sum -c -; else shasum -a 256 -c -; fi; }

# The major version of the java on PATH (or under JAVA_HOME), or nothing.
java_major() {
  local java=java
  [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ] && java="$JAVA_HOME/bin/java"
  command -v "$java" >/dev/null 2>&1 || return 0
  { "$java" -version 2>&1 || true; } | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}

# Kafka 4 needs Java 17 or newer; Spark 4 runs on Java 17 and 21 only (on newer
# ones it dies at start-up with a wall of Java errors). Said before any JVM starts,
# instead of "Java gateway process exited ...".
#   require_java        Java 17 to 21 (Spark, and so setup.sh)
#   require_java kafka  Java 17 or newer (the Kafka broker and tools)
require_java() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    export PATH="$JAVA_HOME/bin:$PATH"
  fi
  local major fix="install a JDK 17 (e.g. 'sudo apt install openjdk-17-jdk' or 'brew install openjdk@17') and set JAVA_HOME to it"
  major=$(java_major)
  [ -n "$major" ] || die "Java not found; Spark and Kafka need Java 17 or 21. Fix: $fix"
  [ "$major" -ge 17 ] || die "Java $major is too old; Spark 4 and Kafka 4 need Java 17 or 21. Fix: $fix"
  if [ "${1:-}" != kafka ] && [ "$major" -gt 21 ]; then
    die "Java $major is too new for Spark $SPARK_VERSION, which runs on Java 17 or 21. Fix: $fix"
  fi
}

# Use the course's virtual environment (made by setup.sh) for python, pip and Spark's
# Python workers: without PYSPARK_PYTHON, workers run whatever python3 is on PATH.
use_venv() {
  [ -x "$COURSE_PYTHON" ] || die "the course environment is not set up. Fix: bash setup.sh (from the repository's top folder)"
  if [ -z "${COURSE_SYSTEM_PYTHON:-}" ]; then
    export VIRTUAL_ENV="$COURSE_VENV"
    export PATH="$COURSE_VENV/bin:$PATH"
  fi
  export PYSPARK_PYTHON="$COURSE_PYTHON"
  export PYSPARK_DRIVER_PYTHON="$COURSE_PYTHON"
  export PYTHONPATH="$COURSE_ROOT/infra/python${PYTHONPATH:+:$PYTHONPATH}"
  export PYTHONUNBUFFERED=1  # print lines as they happen, also into a pipe or a container log
}

find_ivy_jar() {
  local jars
  jars=$("$COURSE_PYTHON" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))' 2>/dev/null) || return 1
  compgen -G "$jars/ivy-*.jar" | head -n 1
}

# Is KAFKA_SERVER the address of the course's local broker (this machine)?
kafka_server_is_local() {
  case "${KAFKA_SERVER%:*}" in localhost|127.0.0.1) return 0 ;; *) return 1 ;; esac
}

# Exit 0 when a Kafka broker answers a metadata request on KAFKA_SERVER.
broker_answers() {
  # On this machine a closed port is a quick "no" (elsewhere a connect can hang, so
  # only here); an open one still has to answer a metadata request.
  if kafka_server_is_local; then
    (exec 3<>"/dev/tcp/${KAFKA_SERVER%:*}/${KAFKA_SERVER##*:}") 2>/dev/null || return 1
  fi
  "$COURSE_PYTHON" "$COURSE_ROOT/infra/python/broker_ready.py" --timeout "${1:-3}" >/dev/null 2>&1
}

# Does something listen on this machine's PORT? And what (when ss or lsof can tell)?
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_user() {
  local who=""
  if command -v ss >/dev/null; then
    who=$(ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p' | head -n 1)
  fi
  if [ -z "$who" ] && command -v lsof >/dev/null; then
    who=$(lsof -nP -iTCP:"$1" -sTCP:LISTEN 2>/dev/null | awk 'NR == 2 { print $1 " (pid " $2 ")" }')
  fi
  echo "${who:-another program}"
}

# The pid of the course's local broker (infra/kafka.sh), if it is running.
local_broker_pid() {
  local pid
  pid=$(cat "$KAFKA_BROKER_DIR/kafka.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# The address the course was set up for (setup.sh records its KAFKA_SERVER): the only
# one where run.sh starts a broker on its own. Default localhost:9092.
course_kafka_server() { cat "$COURSE_LOCAL/kafka.address" 2>/dev/null || echo localhost:9092; }
is_course_kafka_server() {
  local ours
  ours=$(course_kafka_server)
  kafka_server_is_local && [ "${KAFKA_SERVER##*:}" = "${ours##*:}" ] && \
    case "${ours%:*}" in localhost|127.0.0.1) true ;; *) false ;; esac
}

# Does the local broker (of KAFKA_BROKER_DIR) run, on KAFKA_SERVER's port?
local_broker_on_port() {
  local_broker_pid >/dev/null && [ "$(cat "$KAFKA_BROKER_DIR/kafka.port" 2>/dev/null)" = "${KAFKA_SERVER##*:}" ]
}

# What is on this machine's KAFKA_SERVER port when no broker answers there, in words.
no_broker_reason() {
  local port=${KAFKA_SERVER##*:}
  if ! port_in_use "$port"; then
    echo "nothing listens on port $port"
  elif local_broker_on_port; then
    echo "the local broker (pid $(local_broker_pid)) holds port $port but does not answer yet"
  else
    echo "port $port is held by $(port_user "$port"), which does not answer as a Kafka broker"
  fi
}

# For run.sh: make sure a broker answers on KAFKA_SERVER. The course starts its local
# broker on its own only on the address it was set up for (course_kafka_server), and
# not after 'bash infra/kafka.sh stop'; otherwise one line says what is there instead
# (nothing, or which program holds the port), and the run stops. KAFKA_SERVER on
# another machine: the script runs, and says what a client sees without a broker.
ensure_broker() {
  broker_answers 2 && return 0
  if ! kafka_server_is_local; then
    say "no Kafka broker answers on $KAFKA_SERVER (KAFKA_SERVER)"
    return 0
  fi
  if local_broker_on_port; then  # started, not answering yet: kafka.sh start waits for it
    bash "$COURSE_ROOT/infra/kafka.sh" start >&2
    return
  fi
  # Something holds the port: a busy broker may just be slow to answer; give it longer.
  if port_in_use "${KAFKA_SERVER##*:}" && broker_answers 5; then
    return 0
  fi
  if port_in_use "${KAFKA_SERVER##*:}"; then
    die "no Kafka broker answers on $KAFKA_SERVER: $(no_broker_reason). Fix: stop that program, or set KAFKA_SERVER to your Kafka broker's address"
  elif ! is_course_kafka_server; then
    die "no Kafka broker answers on $KAFKA_SERVER: $(no_broker_reason), and run.sh starts the course's broker only on $(course_kafka_server). Start one: bash infra/kafka.sh start (it uses KAFKA_SERVER), or unset KAFKA_SERVER"
  elif [ -f "$KAFKA_BROKER_DIR/stopped-on-purpose" ]; then
    die "no Kafka broker answers on $KAFKA_SERVER: the local broker was stopped with 'bash infra/kafka.sh stop'. Start it: bash infra/kafka.sh start"
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 && \
       [ -n "$(docker compose -f "$COURSE_ROOT/docker-compose.yml" ps -aq kafka 2>/dev/null)" ]; then
    say "no broker answers on $KAFKA_SERVER; starting the Docker one (docker compose up -d --wait kafka) ..."
    docker compose -f "$COURSE_ROOT/docker-compose.yml" up -d --wait kafka >&2
  else
    say "no broker answers on $KAFKA_SERVER; starting the local one (bash infra/kafka.sh start) ..."
    bash "$COURSE_ROOT/infra/kafka.sh" start >&2
  fi
}

# What a run.sh needs before it starts its script (venv, Java, connector, broker):
prepare_kafka() {        # a Kafka client: starts the local broker if none answers
  use_venv
  ensure_broker
}
prepare_spark() {        # Spark without Kafka
  use_venv
  require_java
}
prepare_spark_kafka() {  # Spark with its Kafka connector, and a broker
  use_venv
  require_java
  [ -d "$COURSE_LOCAL/jars/spark-kafka" ] || die "the Spark Kafka connector is not resolved yet. Fix: bash setup.sh"
  ensure_broker
}

# The header comment of a run.sh (from line 2 up to `set -euo pipefail`): its usage.
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p;}' "$1"; }

# Every exercise's run.sh picks its part the same way:
#   choose_part "$0" DEFAULT "PART PART ..." "$@"
# sets `part` and `args` (the rest of the command line):
#   run.sh                      DEFAULT, the exercise's first step
#   run.sh --seconds 30 ...     DEFAULT, with these options
#   run.sh PART [OPTIONS]       that part
#   run.sh solutions/NAME.py    a worked solution (part=solution, script=solutions/NAME.py)
#   run.sh --help               the usage: the parts; exits 0
#   run.sh nonsense             "unknown part", the usage; exits 2
# shellcheck disable=SC2034  # part, script and args are the caller's variables
choose_part() {
  local run_sh=$1 default=$2 parts=" $3 "
  shift 3
  case "${1:-}" in
    -h|--help) usage "$run_sh"; exit 0 ;;
    ""|-*) part=$default; args=("$@") ;;
    solutions/*.py)
      [ -f "$(dirname "$run_sh")/$1" ] || { echo "error: no solution '$1'" >&2; usage "$run_sh" >&2; exit 2; }
      part=solution; script=$1; args=("${@:2}") ;;
    *)
      if [[ "$parts" != *" $1 "* ]]; then
        echo "error: unknown part '$1'" >&2; usage "$run_sh" >&2; exit 2
      fi
      part=$1; args=("${@:2}") ;;
  esac
}
