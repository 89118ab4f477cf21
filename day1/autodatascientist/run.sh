#!/usr/bin/env bash
# autodatascientist: the auto data scientist game, tiny data sets over Kafka.
#
# Usage: bash day1/autodatascientist/run.sh [PART] [OPTIONS]
#   producer             (the default) the house: a data set and its score to data-topic every 5 s
#   consumer             the player's start: each round rebuilt as numpy arrays X and y
#   solutions/NAME.py    a worked solution of the README's exercises
# OPTIONS go to the part's script: bash day1/autodatascientist/run.sh consumer --help
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" producer "producer consumer" "$@"
case "$part" in
  producer) script=producer.py ;;
  consumer) script=consumer.py ;;
esac
prepare_kafka   # venv, a broker (the local one if none answers)
exec python "$here/$script" ${args[@]+"${args[@]}"}
