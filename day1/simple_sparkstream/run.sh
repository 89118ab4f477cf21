#!/usr/bin/env bash
# simple_sparkstream: word count with Spark's DStream API, per 10 s batch.
#
# Usage: bash day1/simple_sparkstream/run.sh [PART] [OPTIONS]
#   wordcount            (the default) the words of a Kafka topic's msg texts (via a bridge)
#   netcat               the words of the lines typed into netcat: nc -lk 9999 first
#   line-server          the course's stand-in for nc -lk 9999 (no netcat needed):
#                        type lines, netcat --socket localhost:9999 counts them
#   solutions/NAME.py    a worked solution of the README's exercises
# OPTIONS go to the part's script: bash day1/simple_sparkstream/run.sh netcat --help
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" wordcount "wordcount netcat line-server" "$@"
# No Spark Kafka connector: the DStream reads Kafka through a kafka-python bridge.
case "$part" in
  wordcount) script=simple_sparkstream.py; prepare_spark; ensure_broker ;;
  netcat) script=netcat_wordcount.py; prepare_spark ;;
  line-server) script=line_server.py; use_venv ;;  # plain Python: no Spark, no Kafka
  solution) prepare_spark; ensure_broker ;;  # $script: solutions/NAME.py
esac
exec python "$here/$script" ${args[@]+"${args[@]}"}
