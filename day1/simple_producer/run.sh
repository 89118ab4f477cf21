#!/usr/bin/env bash
# Run the simple producer.  Usage: bash day1/simple_producer/run.sh [--count N] [--topic T] [--interval S]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"
prepare_exercise
exec python "$here/simple_producer.py" "$@"
