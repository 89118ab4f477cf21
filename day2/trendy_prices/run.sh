#!/usr/bin/env bash
# trendy_prices: streaming linear regression on data whose true weights drift.
#
# Usage: bash day2/trendy_prices/run.sh [PART] [OPTIONS]
#   producer             (the default) send drifting rows to trendy-topic (Kafka only)
#   structured           Structured Streaming + foreachBatch: learn, predict, plot
#   dstream              DStream + MLlib StreamingLinearRegressionWithSGD (via the
#                        Kafka-to-socket bridge)
#   solutions/NAME.py    a worked solution of the README's exercises
# OPTIONS go to the part's script: bash day2/trendy_prices/run.sh structured --help
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" producer "producer structured dstream" "$@"
case "$part" in
  producer)   script=producer.py; prepare_kafka ;;                 # venv, a broker
  structured) script=structured_regression.py; prepare_spark_kafka ;;  # + Java, the connector
  dstream)    script=dstream_regression.py; prepare_spark_kafka ;;
  solution)   prepare_spark_kafka ;;
esac
exec python "$here/$script" ${args[@]+"${args[@]}"}
