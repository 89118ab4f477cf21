#!/usr/bin/env bash
# DStream word count of the Kafka topic's msg texts (or, with --socket HOST:PORT, of a netcat socket).
# Usage: bash day1/simple_sparkstream/run.sh [--topic T] [--batch-seconds S] [--seconds S] [--max-messages N] [--socket HOST:PORT]   (see --help)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"
# No Spark Kafka connector here: the DStream reads Kafka through a kafka-python bridge.
case " $* " in
  *" --socket "*|*" --socket="*|*" --help "*|*" -h "*) use_venv; require_java ;;  # netcat: no Kafka
  *) use_venv; require_java; ensure_broker ;;  # starts the local broker if none answers
esac
exec python "$here/simple_sparkstream.py" "$@"
