#!/usr/bin/env bash
# live_dashboard: the course's streams in a browser (a Bokeh server fed by Kafka).
#
# Usage: bash day2/live_dashboard/run.sh [PART] [OPTIONS]
#   dashboard            (the default) serve the page on http://localhost:5006 until Ctrl-C
#   demo                 the instructor's demo: the producers and Spark jobs that feed the
#                        page, in the background, and the dashboard; Ctrl-C stops all of it
#   solutions/NAME.py    a worked solution of the README's exercises
# OPTIONS go to the dashboard, in the demo too: bash day2/live_dashboard/run.sh dashboard --help
# lists them (--port, --group, the topics, --seconds, --max-messages).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" dashboard "dashboard demo" "$@"
case "$part" in
  dashboard) script=dashboard.py; prepare_kafka ;;         # venv, a broker
  demo)      prepare_spark_kafka; exec bash "$here/demo.sh" ${args[@]+"${args[@]}"} ;;
  solution)  prepare_kafka ;;
esac
exec python "$here/$script" ${args[@]+"${args[@]}"}
