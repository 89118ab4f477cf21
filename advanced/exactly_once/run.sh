#!/usr/bin/env bash
# exactly_once: how many times is a message processed? Kafka -> Spark -> a sink, the
# Spark job killed with kill -9 mid-batch and restarted from its checkpoint.
#
# Usage: bash advanced/exactly_once/run.sh [PART] [OPTIONS]
#   all                  (the default) the three acts, one after the other, then
#                        RESULT {"naive_duplicates": N, "idempotent_duplicates": 0, ...}
#   naive                act 1 only: Spark's Kafka sink (at-least-once: duplicates)
#   idempotent           act 2 only: foreachBatch upserts into SQLite
#   transactional        act 3 only: foreachBatch writes in Kafka transactions
#   solutions/NAME.py    a worked solution of the README's exercise (act 3 with that job)
# OPTIONS go to scenario.py (--messages N, --keep): bash advanced/exactly_once/run.sh all --help
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" all "all naive idempotent transactional" "$@"
case "$part" in
  all) acts=naive,idempotent,transactional ;;
  solution) acts=transactional; args=(--job "$here/$script" ${args[@]+"${args[@]}"}) ;;
  *) acts=$part ;;
esac
prepare_spark_kafka   # venv, Java, Spark's Kafka connector, a broker (the local one if none answers)
exec python "$here/scenario.py" --acts "$acts" ${args[@]+"${args[@]}"}
