#!/usr/bin/env bash
# latency_lab: how fast can Python write to Kafka, and how long does a message take
# through Spark? Throughput of three producers, latency of five pipelines, side by side.
#
# Usage: bash advanced/latency_lab/run.sh [PART] [OPTIONS]
#   all                  (the default) both parts, then RESULT {...}; plots in output/
#   producers            part 1: kafka-python, confluent-kafka, kafka-producer-perf-test
#   pipelines            part 2: latency through no Spark, micro-batches (trigger 0 and
#                        1 s), Real-Time Mode and DStream
#   solutions/NAME.py    a worked solution of the README's exercises: a copy job, which
#                        the lab measures beside "direct"
# OPTIONS go to lab.py (--quick for a short run, --rates, --pipelines, ...):
#   bash advanced/latency_lab/run.sh all --help
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" all "all producers pipelines" "$@"
case "$part" in
  all) parts=producers,pipelines ;;
  # a solution is a copy job: the lab measures it after "direct", the floor
  solution) parts=pipelines; args=(--pipelines direct --job "$here/$script" ${args[@]+"${args[@]}"}) ;;
  *) parts=$part ;;
esac
case " ${args[*]-} " in  # the options' help needs no broker, Java or free port
  *" -h "*|*" --help "*) use_venv; exec python "$here/lab.py" --help ;;
esac
prepare_spark_kafka   # venv, Java (Spark and the perf tool), Spark's Kafka connector, a broker
# The pipelines' Spark jobs show their batches on Spark's web UI, one job after another
# on port 4040. Another program there (another Spark job?) would take CPU from the
# measurement, and the lab's jobs would move to another port without a word.
if [[ "$parts" == *pipelines* ]] && [ "${SPARK_UI:-}" != off ] && port_in_use 4040; then
  die "port 4040 (the Spark UI of the lab's pipelines) is already taken by $(port_user 4040). Fix: stop that program (another Spark job slows the measurement), or SPARK_UI=off bash $0${1:+ $*}"
fi
exec python "$here/lab.py" --parts "$parts" ${args[@]+"${args[@]}"}
