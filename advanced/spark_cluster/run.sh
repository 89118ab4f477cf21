#!/usr/bin/env bash
# spark_cluster: Spark on a standalone cluster of two workers, one of which dies mid-stream.
#
# Usage: bash advanced/spark_cluster/run.sh [PART] [OPTIONS]
#   failover             (the default) a structured word count on the cluster; worker 2 and its
#                        executor are killed with kill -9 mid-stream; the counts stay exact
#   solutions/NAME.py    a worked solution of the README's exercises
# OPTIONS go to the part's script: bash advanced/spark_cluster/run.sh failover --help
# The cluster (master spark://127.0.0.1:7077, UI http://localhost:8080, two workers) is
# started if it is not running, and then stopped at the end (also on Ctrl-C); one you
# started yourself (bash infra/spark.sh cluster start) stays up. Kafka: KAFKA_SERVER.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" failover "failover" "$@"
case "$part" in
  failover) script=failover.py ;;
esac
prepare_spark_kafka   # venv, Java, Spark's Kafka connector, a broker (the local one if none answers)
# No broker: the one-line answer now, before a cluster starts for nothing
broker_answers 3 || python -c 'import course; course.exit_no_broker()'
spark_sh="$COURSE_ROOT/infra/spark.sh"
if bash "$spark_sh" cluster running; then
  say "the Spark cluster is already running; it stays up at the end"
else
  bash "$spark_sh" cluster start  # a start that fails or is interrupted stops what it started
  # Not exec: stop the cluster this run started, at the end and on Ctrl-C.
  trap 'trap "" INT; say "stopping the Spark cluster this run started ..."; bash "$spark_sh" cluster stop' EXIT
fi
say "Spark master UI: http://localhost:8080 (its workers, executors, applications): open it now"
SPARK_MASTER=$(bash "$spark_sh" cluster master)
export SPARK_MASTER
python "$here/$script" ${args[@]+"${args[@]}"}
