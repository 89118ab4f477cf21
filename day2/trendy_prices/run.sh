#!/usr/bin/env bash
# Trendy prices: streaming regression on drifting data.  Usage: bash day2/trendy_prices/run.sh producer|structured|dstream [args]   (see --help of each)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

usage="usage: bash day2/trendy_prices/run.sh producer|structured|dstream [--help | args]
  producer    send drifting rows to trendy-topic (Kafka only)
  structured  Structured Streaming + foreachBatch regression (Spark)
  dstream     DStream + MLlib StreamingLinearRegressionWithSGD (Spark)"
case "${1:-}" in
  producer)   shift; prepare_exercise; exec python "$here/producer.py" "$@" ;;
  structured) shift; prepare_spark_exercise; exec python "$here/structured_regression.py" "$@" ;;
  dstream)    shift; prepare_spark_exercise; exec python "$here/dstream_regression.py" "$@" ;;
  -h|--help)  echo "$usage" ;;
  *)          echo "$usage" >&2; exit 2 ;;
esac
