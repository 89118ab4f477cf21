#!/usr/bin/env bash
# Structured Streaming running word count of the Kafka topic's msg texts, with a checkpoint.
# Usage: bash day2/simple_structuredstreaming/run.sh [--topic T] [--checkpoint DIR] [--seconds S] [--max-messages N]   (see --help)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"
prepare_spark_exercise   # venv + Java check + connector + broker (starts the local one if none answers)
exec python "$here/simple_structuredstreaming.py" "$@"
