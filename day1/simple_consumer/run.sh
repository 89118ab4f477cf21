#!/usr/bin/env bash
# simple_consumer: a Kafka consumer in a group, printing test-topic's messages.
#
# Usage: bash day1/simple_consumer/run.sh [PART] [OPTIONS]
#   consumer             (the default) print every message with its address, commit what was printed
# (the README's exercises have written answers: solutions/README.md)
# OPTIONS go to the part's script: bash day1/simple_consumer/run.sh consumer --help
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" consumer "consumer" "$@"
case "$part" in
  consumer) script=simple_consumer.py ;;
esac
prepare_kafka   # venv, a broker (the local one if none answers)
exec python "$here/$script" ${args[@]+"${args[@]}"}
