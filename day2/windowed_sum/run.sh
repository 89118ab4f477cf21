#!/usr/bin/env bash
# Windows over a stream: the DStream window + union example, or event-time windows on Kafka.
# Usage: bash day2/windowed_sum/run.sh [dstream|events] [ARGS...]   (ARGS: run.sh <part> --help)
#   dstream   DStream job: 1..100 one per 1 s batch, ("value", x) and ("lastTwoSum", x + previous)
#             (no Kafka; the default)
#   events    Structured Streaming job: sliding event-time windows with a watermark over test-topic
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

usage() { sed -n '2,7s/^# \{0,1\}//p' "$0"; }
what=${1:-dstream}
case "$what" in
  dstream)   [ $# -eq 0 ] || shift; use_venv; require_java
             exec python "$here/windowed_sum_dstream.py" "$@" ;;
  events)    shift; prepare_spark_exercise
             exec python "$here/event_time_windows.py" "$@" ;;
  -h|--help) usage ;;
  *)         usage >&2; die "unknown part '$what'" ;;
esac
