#!/usr/bin/env bash
# Run the simple consumer.  Usage: bash day1/simple_consumer/run.sh [--max-messages N] [--seconds S] [--topics a,b]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"
prepare_exercise
exec python "$here/simple_consumer.py" "$@"
