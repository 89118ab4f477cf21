#!/usr/bin/env bash
# A Spark standalone cluster on this machine (advanced/spark_cluster): one master and
# two workers of one core each, started from pyspark's own bin/spark-class (the classes
# org.apache.spark.deploy.master.Master and org.apache.spark.deploy.worker.Worker):
# no other download. Run any Spark exercise on it with
#   SPARK_MASTER=spark://127.0.0.1:7077 bash day2/simple_structuredstreaming/run.sh
#
#   master    spark://127.0.0.1:7077, web UI http://localhost:8080 (workers, applications)
#   worker 1  1 core, 1 GiB for executors, web UI http://localhost:8081
#   worker 2  1 core, 1 GiB for executors, web UI http://localhost:8082
# Their logs and the workers' work folders (one per application: each executor's
# command line, stdout and stderr, the jars it fetched): infra/local/spark/.
#
#   bash infra/spark.sh cluster start       start what is not running; returns once the workers registered
#   bash infra/spark.sh cluster stop        stop the workers (and their executors) and the master
#   bash infra/spark.sh cluster status      the master, its workers (cores and memory in use), its applications
#   bash infra/spark.sh cluster kill N      kill -9 worker N and its executors (a crash)
#   bash infra/spark.sh cluster restart N   start worker N again
#   bash infra/spark.sh cluster master      its URL for SPARK_MASTER: spark://127.0.0.1:7077
#   bash infra/spark.sh cluster running     exit 0 when the master and both workers run
#   bash infra/spark.sh cluster reset       stop it and delete its logs and work folders
#
# Environment: SPARK_WORKER_MEMORY (default 1g), what each worker offers its executors.
set -euo pipefail
# shellcheck source=infra/common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

host=127.0.0.1
master_port=7077
master_url="spark://$host:$master_port"
ui_port() { echo $((8080 + $1)); }    # 0: the master's web UI; N: worker N's
workers=(1 2)
dir="$COURSE_LOCAL/spark"
join() { local IFS=,; echo "$*"; }

name() { if [ "$1" = 0 ]; then echo master; else echo "worker $1"; fi; }
home() { if [ "$1" = 0 ]; then echo "$dir/master"; else echo "$dir/worker$1"; fi; }
pid_of() {  # pid_of N: the pid of the master (0) or worker N, if it runs
  local pid
  pid=$(cat "$(home "$1")/pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}
descendants() {  # every process started by pid $1, children first
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do descendants "$child"; echo "$child"; done
}

# The master's view, from its web UI's JSON (http://localhost:8080/json/): one line per
# worker "UI_PORT STATE CORES CORES_USED MEMORY_MB MEMORY_USED_MB", then one per
# running application "app ID NAME CORES". Exit 1 when the master does not answer.
master_view() {
  "$COURSE_PYTHON" - "$(ui_port 0)" <<'EOF'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/json/", timeout=3) as answer:
        view = json.load(answer)
except Exception:
    sys.exit(1)
for w in sorted(view["workers"], key=lambda w: w["state"] != "ALIVE"):  # a restarted worker: ALIVE first
    print(w["webuiaddress"].rsplit(":", 1)[1], w["state"], w["cores"], w["coresused"], w["memory"], w["memoryused"])
for app in view["activeapps"]:
    print("app", app["id"], app["name"].replace(" ", "_"), app["cores"])
EOF
}
worker_alive() {  # worker N is registered with the master and ALIVE
  master_view 2>/dev/null | awk -v p="$(ui_port "$1")" '$1 == p { print $2; exit }' | grep -qx ALIVE
}

spark_home() {
  [ -x "$COURSE_PYTHON" ] || die "the course environment is not set up. Fix: bash setup.sh (from the repository's top folder)"
  "$COURSE_PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null \
    || die "pyspark is not installed in the course environment. Fix: bash setup.sh"
}

launch() {  # launch N: start the master (0) or worker N in the background, detached
  local n=$1 where detach=() class args
  where=$(home "$n")
  mkdir -p "$where"
  if [ "$n" = 0 ]; then
    class=org.apache.spark.deploy.master.Master
    args=(--host "$host" --port "$master_port" --webui-port "$(ui_port 0)")
  else
    class=org.apache.spark.deploy.worker.Worker
    args=(--host "$host" --cores 1 --memory "${SPARK_WORKER_MEMORY:-1g}" --webui-port "$(ui_port "$n")"
          --work-dir "$where/work" "$master_url")
  fi
  command -v setsid >/dev/null && detach=(setsid)
  # SPARK_CONF_DIR: the executors a worker starts read the course's Spark settings (and
  # log warnings only, into their work folder). The master and the workers themselves
  # log INFO into their own log (the same log4j2 file as the Kafka daemons).
  # A small heap for the daemons: the work happens in the executors.
  # Worker work folders of finished applications are deleted after an hour.
  SPARK_CONF_DIR="$COURSE_ROOT/infra/spark-conf" SPARK_LOCAL_IP="$host" \
  SPARK_DAEMON_MEMORY=256m SPARK_NO_DAEMONIZE=1 \
  SPARK_DAEMON_JAVA_OPTS="-Dlog4j2.configurationFile=file:$COURSE_ROOT/infra/log4j2.properties -Dcourse.log.level=INFO" \
  SPARK_WORKER_OPTS="-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.appDataTtl=3600" \
    nohup ${detach[@]+"${detach[@]}"} "$SPARK_HOME/bin/spark-class" "$class" "${args[@]}" \
    >> "$where/spark.log" 2>&1 < /dev/null &
  echo $! > "$where/pid"
  say "$(name "$n") starting (pid $!, UI http://localhost:$(ui_port "$n"), log: infra/local/spark/$(basename "$where")/spark.log)"
}

wait_for() {  # wait_for N: until the master answers (0) or worker N registered with it
  local n=$1 deadline=$((SECONDS + ${SPARK_CLUSTER_START_TIMEOUT:-120}))
  until if [ "$n" = 0 ]; then port_in_use "$master_port" && master_view >/dev/null; else worker_alive "$n"; fi; do
    if ! pid_of "$n" >/dev/null; then
      tail -n 15 "$(home "$n")/spark.log" >&2 || true
      die "$(name "$n") exited during start-up (its log above). Fix: bash infra/spark.sh cluster reset, then start"
    fi
    [ "$SECONDS" -lt "$deadline" ] || \
      die "$(name "$n") did not come up in time (log: infra/local/spark/$(basename "$(home "$n")")/spark.log)"
    sleep 0.5
  done
}

started=()
stop_started() {  # Ctrl-C during a start, or a start that failed: stop what it launched, nothing else
  local status=${1:-$?} n
  trap '' INT TERM
  trap - EXIT
  [ "$status" -ne 0 ] && [ ${#started[@]} -gt 0 ] || exit "$status"
  [ "$status" -ne 130 ] || { echo >&2; say "interrupted: stopping what this start launched ..."; }
  for n in "${started[@]}"; do stop_one "$n" 10; done
  exit "$status"
}

cluster_start() {  # cluster_start [N]: start worker N, or everything not running
  local n p todo=() running=() wanted=(0 "${workers[@]}")
  [ $# -eq 0 ] || wanted=("$@")
  for n in "${wanted[@]}"; do
    if p=$(pid_of "$n"); then running+=("$(name "$n") (pid $p)"); else todo+=("$n"); fi
  done
  if [ ${#todo[@]} -eq 0 ]; then
    say "already running: $(join "${running[@]}" | sed 's/,/, /g'); master $master_url, UI http://localhost:$(ui_port 0)"
    return 0
  fi
  require_java
  SPARK_HOME=$(spark_home); export SPARK_HOME
  for n in "${todo[@]}"; do
    local ports=("$(ui_port "$n")") what
    [ "$n" != 0 ] || ports=("$master_port" "$(ui_port 0)")
    for p in "${ports[@]}"; do
      if port_in_use "$p"; then
        what="$(name "$n")'s web UI"; [ "$p" != "$master_port" ] || what="the master"
        die "port $p ($what) is already taken by $(port_user "$p"). Fix: stop that program (another Spark?), then bash infra/spark.sh cluster start"
      fi
    done
  done
  [ "${todo[0]}" = 0 ] || pid_of 0 >/dev/null || die "the master is not running. Fix: bash infra/spark.sh cluster start"
  trap 'stop_started 130' INT TERM
  trap stop_started EXIT
  if [ "${todo[0]}" = 0 ]; then
    launch 0; started+=(0)
    wait_for 0  # the workers register with it: it must answer first
    todo=("${todo[@]:1}")
  fi
  for n in "${todo[@]}"; do launch "$n"; started+=("$n"); done
  for n in "${todo[@]}"; do wait_for "$n"; done
  trap - INT TERM EXIT
  say "cluster ready: master $master_url (UI http://localhost:$(ui_port 0)), workers $(join "${workers[@]}") with 1 core each"
}

stop_one() {  # stop_one N [SECONDS]: SIGTERM, then kill -9 what is left (executors included)
  local n=$1 limit=${2:-15} pid procs
  pid=$(pid_of "$n") || { rm -f "$(home "$n")/pid"; return 0; }
  procs=$(descendants "$pid")
  kill "$pid" 2>/dev/null || true  # a worker kills its executors as it shuts down
  for _ in $(seq 1 $((limit * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  # shellcheck disable=SC2086  # one pid a word
  kill -9 "$pid" $procs 2>/dev/null || true
  rm -f "$(home "$n")/pid"
}

cluster_stop() {
  local n any=0
  for n in 0 "${workers[@]}"; do pid_of "$n" >/dev/null && any=1; done
  [ "$any" = 1 ] || { say "the Spark cluster is not running"; return 0; }
  for n in "${workers[@]}"; do stop_one "$n" & done  # the workers first, both at once
  wait
  stop_one 0
  say "Spark cluster stopped"
}

cluster_kill() {
  local n=$1 pid procs
  pid=$(pid_of "$n") || { say "worker $n is not running"; return 0; }
  procs=$(descendants "$pid" | tr '\n' ' ')
  local p executors=()  # the executor JVMs among them (the others: their Python workers)
  for p in $procs; do
    ps -o args= -p "$p" 2>/dev/null | grep -q CoarseGrainedExecutorBackend && executors+=("$p")
  done
  # shellcheck disable=SC2086  # one pid a word
  kill -9 "$pid" $procs
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$(home "$n")/pid"
  say "worker $n (pid $pid) and its ${#executors[@]} executor JVM(s)${executors[*]:+ (pid $(join "${executors[@]}"))} killed with kill -9: a crash. Back: bash infra/spark.sh cluster restart $n"
}

cluster_status() {
  local n pid line up=0 view
  view=$(master_view 2>/dev/null) || view=""
  if [ -n "$view" ]; then
    echo "master    $master_url  UI http://localhost:$(ui_port 0)  answers (pid $(pid_of 0 || echo "? not the course's"))"
  elif pid=$(pid_of 0); then
    echo "master    $master_url  running (pid $pid), no answer yet"
  else
    echo "master    $master_url  down. Start the cluster: bash infra/spark.sh cluster start"
  fi
  for n in "${workers[@]}"; do
    line=$(echo "$view" | awk -v p="$(ui_port "$n")" '$1 == p { print; exit }')
    if [ -n "$line" ] && pid=$(pid_of "$n"); then
      # shellcheck disable=SC2086  # the fields of master_view's line
      set -- $line
      echo "worker $n  UI http://localhost:$1  $2: $4 of $3 cores, $6 of $5 MiB in use by executors (pid $pid)"
      [ "$2" = ALIVE ] && up=$((up + 1))
    elif pid=$(pid_of "$n"); then
      echo "worker $n  UI http://localhost:$(ui_port "$n")  running (pid $pid), not registered with the master"
    else
      echo "worker $n  UI http://localhost:$(ui_port "$n")  down"
    fi
  done
  echo "$view" | awk '$1 == "app" { print "application " $3 " (" $2 "): " $4 " cores" }'
  echo "logs and work folders: infra/local/spark/"
  [ -n "$view" ] && [ "$up" -eq ${#workers[@]} ]
}

cluster() {
  local sub=${1:-status} n=${2:-}
  case "$sub" in
    start) cluster_start ;;
    stop) cluster_stop ;;
    status) cluster_status ;;
    master) echo "$master_url" ;;
    running) for n in 0 "${workers[@]}"; do pid_of "$n" >/dev/null || return 1; done ;;
    reset) cluster_stop; rm -rf "$dir"; say "Spark cluster logs and work folders deleted" ;;
    kill|restart)
      [[ " ${workers[*]} " == *" $n "* ]] || die "which worker? Use: bash infra/spark.sh cluster $sub 1|2"
      if [ "$sub" = restart ]; then cluster_start "$n"; else cluster_kill "$n"; fi ;;
    *) die "unknown cluster command '$sub'. Use: bash infra/spark.sh cluster start|stop|status|kill N|restart N|master|running|reset" ;;
  esac
}

cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
  cluster) cluster "$@" ;;
  help|-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  *) die "unknown command '$cmd'. Use: bash infra/spark.sh cluster start|stop|status|kill N|restart N|master|running|reset" ;;
esac
