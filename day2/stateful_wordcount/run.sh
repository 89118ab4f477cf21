#!/usr/bin/env bash
# Running word count over Hamlet's soliloquy, DStream or Structured Streaming + Kafka.
# Usage: bash day2/stateful_wordcount/run.sh [dstream|producer|structured] [ARGS...]   (ARGS: run.sh <part> --help)
#   dstream      DStream job: queueStream, one line a batch, updateStateByKey (no Kafka; the default)
#   producer     write the soliloquy to Kafka, one line per message (--topic hamlet)
#   structured   Structured Streaming job: reads the lines from Kafka, applyInPandasWithState
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

usage() { sed -n '2,6s/^# \{0,1\}//p' "$0"; }
what=${1:-dstream}
case "$what" in
  dstream)    [ $# -eq 0 ] || shift; use_venv; require_java
              exec python "$here/wordcount_dstream.py" "$@" ;;
  producer)   shift; prepare_exercise
              exec python "$here/hamlet_producer.py" "$@" ;;
  structured) shift; prepare_spark_exercise
              exec python "$here/wordcount_structured.py" "$@" ;;
  -h|--help)  usage ;;
  *)          usage >&2; die "unknown part '$what'" ;;
esac
