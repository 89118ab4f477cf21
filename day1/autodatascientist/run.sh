#!/usr/bin/env bash
# The auto data scientist game.  Usage: bash day1/autodatascientist/run.sh producer|consumer|solution [args]   (see --help of each)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

usage="usage: bash day1/autodatascientist/run.sh producer|consumer|solution [--help | args]"
script=${1:-}
case "$script" in
  producer|consumer|solution) shift ;;
  -h|--help) echo "$usage"; exit 0 ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
prepare_exercise   # venv + broker (starts the local one if none answers)
exec python "$here/$script.py" "$@"
