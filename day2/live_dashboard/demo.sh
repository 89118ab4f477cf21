#!/usr/bin/env bash
# The instructor's demo in one command: bash day2/live_dashboard/run.sh demo [OPTIONS]
#
# Starts in the background what feeds the dashboard (their output goes to
# day2/live_dashboard/output/demo-*.log):
#   simple_producer            test-topic, a message every 0.5 s
#   windowed_sum events        test-topic -> test-windows (Spark), a micro-batch every 2 s, --demo-late
#   trendy_prices producer     trendy-topic, a message a second, drifting 5x faster
#   trendy_prices structured   trendy-topic -> trendy-model (Spark), a micro-batch every 2 s
#   twitter_cluster producer   tweets, 5 a second
# then the dashboard (OPTIONS go to it, e.g. --port 5007, --seconds 120). Each runs in a
# process group of its own (job control, set -m): Ctrl-C reaches this script, which
# passes it to the dashboard. When the dashboard has stopped (Ctrl-C, or --seconds),
# each job gets a Ctrl-C of its own and stops gracefully (producers flush, Spark
# finishes its micro-batch); what still runs after 120 s is killed. Nothing is left.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../../infra/common.sh
source "$root/infra/common.sh"
use_venv

port=5006
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = --port ]; then j=$((i + 1)); port=${!j:-5006}; fi
done
if port_in_use "$port"; then
  die "port $port (the dashboard) is already taken by $(port_user "$port"). Fix: stop that program, or choose another port: bash day2/live_dashboard/run.sh demo --port $((port + 1))"
fi

python -c 'import course; course.check_broker()'  # no broker: the course's one line, before anything starts

logs="$here/output"
mkdir -p "$logs"
set -m  # job control: each background job in a process group of its own, Ctrl-C not ignored
pids=() names=()
start_job() {  # start_job NAME COMMAND...: in the background, its output to a log
  local name=$1
  shift
  "$@" > "$logs/demo-$name.log" 2>&1 < /dev/null &
  pids+=("$!") names+=("$name")
  printf '  pid %-7s %s\n' "$!" "${*#bash }" | sed "s#$root/##g"
}

tree() {  # tree PID: the pid and its descendants (a Spark job's JVM and Python workers)
  local child
  echo "$1"
  for child in $(pgrep -P "$1" 2>/dev/null); do tree "$child"; done
}
running() { local state; state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* ]]; }  # a zombie has exited
stop_jobs() {
  trap - EXIT
  trap 'force=1' INT
  force=0
  echo "[demo] stopping the jobs it started (Ctrl-C again: kill them at once) ..."
  local all=() deadline=$((SECONDS + 120)) left pid child
  for pid in "${pids[@]}"; do while read -r child; do all+=("$child"); done < <(tree "$pid"); done
  for pid in "${pids[@]}"; do kill -INT -- "-$pid" 2>/dev/null || true; done
  while :; do  # until every process of theirs has exited (Spark's JVM a moment after its driver)
    left=()
    for pid in "${all[@]}"; do running "$pid" && left+=("$pid"); done
    [ ${#left[@]} -eq 0 ] && break
    if [ "$force" = 1 ] || [ $SECONDS -ge $deadline ]; then
      echo "[demo] killing what is left: pids ${left[*]}"
      kill -KILL "${left[@]}" 2>/dev/null || true
      break
    fi
    sleep 0.5
  done
  wait 2>/dev/null || true
  echo "[demo] stopped: ${names[*]} (their output: ${logs#"$root"/}/demo-*.log)"
}
trap stop_jobs EXIT
trap 'exit 143' TERM HUP  # a closed terminal stops the jobs too

echo "[demo] starting, in the background:"
start_job simple_producer bash "$root/day1/simple_producer/run.sh"
start_job windowed_sum bash "$root/day2/windowed_sum/run.sh" events --trigger 2 --demo-late
start_job trendy_producer bash "$root/day2/trendy_prices/run.sh" producer --interval 1 --time-scale 5
start_job trendy_learner bash "$root/day2/trendy_prices/run.sh" structured --trigger 2 \
  --plot "$logs/demo-structured_weights.png"
start_job tweets bash "$root/day2/twitter_cluster/run.sh" producer
echo "[demo] their output: ${logs#"$root"/}/demo-*.log; the Spark panels fill once their jobs have started"
python "$here/dashboard.py" "$@" < /dev/null &
dashboard=$!
trap 'kill -INT "$dashboard" 2>/dev/null || true' INT  # Ctrl-C: the dashboard stops, then the jobs
while kill -0 "$dashboard" 2>/dev/null; do wait "$dashboard" || true; done
status=0
wait "$dashboard" || status=$?
exit "$status"  # after stop_jobs (the EXIT trap)
