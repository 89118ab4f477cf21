#!/usr/bin/env bash
# windowed_sum: windows over a stream, by arrival (DStream) and by event time (Kafka).
#
# Usage: bash day2/windowed_sum/run.sh [PART] [OPTIONS]
#   dstream              (the default) DStream window + union: 1..100, one per 1 s batch,
#                        ("value", x) and ("lastTwoSum", x + previous); no Kafka
#   events               Structured Streaming: sliding event-time windows with a watermark
#                        over test-topic
#   solutions/NAME.py    a worked solution of the README's exercises
# OPTIONS go to the part's script: bash day2/windowed_sum/run.sh events --help
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" dstream "dstream events" "$@"
case "$part" in
  dstream)  script=windowed_sum_dstream.py; prepare_spark ;;     # venv, Java
  events)   script=event_time_windows.py; prepare_spark_kafka ;;  # + the Kafka connector, a broker
  solution) prepare_spark_kafka ;;
esac
exec python "$here/$script" ${args[@]+"${args[@]}"}
