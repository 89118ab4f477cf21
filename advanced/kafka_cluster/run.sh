#!/usr/bin/env bash
# kafka_cluster: what survives a broker failure, on a cluster of three brokers.
#
# Usage: bash advanced/kafka_cluster/run.sh [PART] [OPTIONS]
#   failover             (the default) kill -9 the leader of partition 0 while an idempotent
#                        acks=all producer writes and a group of two consumers reads; count
#                        what was lost and what was read twice
# OPTIONS go to the part's script: bash advanced/kafka_cluster/run.sh failover --help
# The cluster (three KRaft brokers on localhost:19192-19194) is started if it is not
# running, and then stopped at the end (also on Ctrl-C); one you started yourself
# (bash infra/kafka.sh cluster start) stays up.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" failover "failover" "$@"
case "$part" in
  failover|solution) script=${script:-failover.py} ;;
esac
use_venv   # no prepare_kafka: this exercise brings its own brokers, not KAFKA_SERVER's
kafka_sh="$COURSE_ROOT/infra/kafka.sh"
if bash "$kafka_sh" cluster running; then
  say "the three-broker cluster is already running; it stays up at the end"
else
  bash "$kafka_sh" cluster start
  # Not exec: stop the cluster this run started, at the end and on Ctrl-C.
  trap 'trap "" INT; say "stopping the cluster this run started ..."; bash "$kafka_sh" cluster stop' EXIT
fi
KAFKA_SERVER=$(bash "$kafka_sh" cluster servers)
export KAFKA_SERVER
python "$here/$script" ${args[@]+"${args[@]}"}
