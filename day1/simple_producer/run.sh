#!/usr/bin/env bash
# simple_producer: a Kafka producer, a JSON message to test-topic every 0.5 s.
#
# Usage: bash day1/simple_producer/run.sh [PART] [OPTIONS]
#   producer             (the default) send {"time", "msg"} to test-topic, with delivery reports
#   solutions/NAME.py    a worked solution of the README's exercises
# OPTIONS go to the part's script: bash day1/simple_producer/run.sh producer --help
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" producer "producer" "$@"
case "$part" in
  producer) script=simple_producer.py ;;
esac
prepare_kafka   # venv, a broker (the local one if none answers)
exec python "$here/$script" ${args[@]+"${args[@]}"}
