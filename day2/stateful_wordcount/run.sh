#!/usr/bin/env bash
# stateful_wordcount: running word totals over Hamlet's soliloquy, kept in Spark's state.
#
# Usage: bash day2/stateful_wordcount/run.sh [PART] [OPTIONS]
#   dstream              (the default) DStream job: queueStream, a line a batch, updateStateByKey (no Kafka)
#   producer             write the soliloquy to Kafka (topic hamlet), a message per line
#   structured           Structured Streaming job: the lines from Kafka, applyInPandasWithState
#   solutions/NAME.py    a worked solution of the README's exercises
# OPTIONS go to the part's script: bash day2/stateful_wordcount/run.sh structured --help
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" dstream "dstream producer structured" "$@"
case "$part" in
  dstream)    script=wordcount_dstream.py;    prepare_spark ;;        # venv, Java (no Kafka)
  producer)   script=hamlet_producer.py;      prepare_kafka ;;        # venv, a broker
  structured) script=wordcount_structured.py; prepare_spark_kafka ;;  # venv, Java, connector, broker
  solution)   prepare_spark_kafka ;;
esac
exec python "$here/$script" ${args[@]+"${args[@]}"}
