#!/usr/bin/env bash
# simple_structuredstreaming: a running word count of a Kafka topic, with a checkpoint.
#
# Usage: bash day2/simple_structuredstreaming/run.sh [PART] [OPTIONS]
#   wordcount            (the default) Structured Streaming word count of test-topic
#   solutions/NAME.py    a worked solution of the README's exercises
# OPTIONS go to the part's script: bash day2/simple_structuredstreaming/run.sh wordcount --help
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" wordcount "wordcount" "$@"
case "$part" in
  wordcount) script=simple_structuredstreaming.py ;;
esac
prepare_spark_kafka   # venv, Java, Spark's Kafka connector, a broker (the local one if none answers)
exec python "$here/$script" ${args[@]+"${args[@]}"}
