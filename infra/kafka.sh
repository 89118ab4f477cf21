#!/usr/bin/env bash
# The course's local Apache Kafka broker, for machines without Docker (and for CI).
# It is the official Apache Kafka release jars (pinned in infra/versions.sh, checked
# against infra/checksums/kafka.sha256), run with this machine's Java.
#
#   bash infra/kafka.sh start     start the broker; returns once it answers
#   bash infra/kafka.sh stop      stop it (run.sh will not restart it behind your back)
#   bash infra/kafka.sh status    exit 0 only when a broker answers on KAFKA_SERVER
#   bash infra/kafka.sh logs [-f] the broker's log
#   bash infra/kafka.sh reset     stop it and delete all topics and offsets
#
# Kafka's own command-line tools (kafka-topics.sh & co. in a release), with
# --bootstrap-server KAFKA_SERVER added when you leave it out:
#   bash infra/kafka.sh topics --list
#   bash infra/kafka.sh console-consumer --topic test-topic --from-beginning
#   bash infra/kafka.sh console-producer --topic test-topic
#   bash infra/kafka.sh consumer-groups --list
#   bash infra/kafka.sh producer-perf-test --topic perf --num-records 100000 --record-size 100 --throughput -1
set -euo pipefail
# shellcheck source=infra/common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

jars="$COURSE_LOCAL/jars/kafka"
data="$COURSE_LOCAL/kafka-data"
log="$COURSE_LOCAL/kafka.log"
pidfile="$COURSE_LOCAL/kafka.pid"   # with kafka.port beside it: what local_broker_pid reads
port="${KAFKA_SERVER##*:}"
controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"

kafka_java() {  # kafka_java MAIN_CLASS ARGS...: run a class from the Kafka jars
  [ -d "$jars" ] || bash "$COURSE_ROOT/infra/fetch_jars.sh" kafka >&2
  require_java kafka
  # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS holds several JVM options
  java ${KAFKA_HEAP_OPTS:--Xmx256m} -cp "$jars/*" \
    -Dlog4j2.configurationFile="$COURSE_ROOT/infra/log4j2.properties" \
    -Dcourse.log.level="${COURSE_KAFKA_LOG_LEVEL:-WARN}" "$@"
}

tool() {  # tool MAIN_CLASS ARGS...: a Kafka CLI tool, pointed at KAFKA_SERVER
  local class=$1; shift
  case " $* " in
    *" --bootstrap-server "*|*" --bootstrap-server="*|*" --help "*|*" --version "*) ;;
    *) set -- --bootstrap-server "$KAFKA_SERVER" "$@" ;;
  esac
  kafka_java "$class" "$@"
}

start() {
  if broker_answers; then
    say "a Kafka broker already answers on $KAFKA_SERVER"
    return 0
  fi
  kafka_server_is_local || die "KAFKA_SERVER=$KAFKA_SERVER is not on this machine; the local broker serves localhost only. Fix: unset KAFKA_SERVER or start that broker"
  if pid=$(local_broker_pid); then
    [ "$(cat "$COURSE_LOCAL/kafka.port" 2>/dev/null)" = "$port" ] || \
      die "the local broker (pid $pid) runs on localhost:$(cat "$COURSE_LOCAL/kafka.port"), not $KAFKA_SERVER. Fix: bash infra/kafka.sh stop first, or unset KAFKA_SERVER"
    say "the local broker (pid $pid) is running but not answering yet; waiting ..."
  else
    require_java kafka
    bash "$COURSE_ROOT/infra/fetch_jars.sh" kafka
    mkdir -p "$COURSE_LOCAL"
    # The effective config: the commented template plus this machine's paths/ports.
    {
      cat "$COURSE_ROOT/infra/kafka-server.properties"
      echo
      echo "# --- added by infra/kafka.sh ---"
      echo "log.dirs=$data"
      echo "listeners=PLAINTEXT://localhost:$port,CONTROLLER://localhost:$controller_port"
      echo "advertised.listeners=PLAINTEXT://localhost:$port"
      echo "controller.quorum.bootstrap.servers=localhost:$controller_port"
    } > "$COURSE_LOCAL/server.properties"
    if [ ! -f "$data/meta.properties" ]; then
      # KRaft storage is formatted once, with a cluster id, before the first start.
      local cluster_id
      cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid)
      kafka_java kafka.tools.StorageTool format --standalone -t "$cluster_id" \
        -c "$COURSE_LOCAL/server.properties" >/dev/null
    fi
    rm -f "$COURSE_LOCAL/stopped-on-purpose"
    # In the background, detached from the terminal (setsid where there is one), so
    # that Ctrl-C in the exercise that started it does not stop the broker too.
    local detach=()
    command -v setsid >/dev/null && detach=(setsid)
    # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS holds several JVM options
    nohup ${detach[@]+"${detach[@]}"} java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m} -cp "$jars/*" \
      -Dlog4j2.configurationFile="$COURSE_ROOT/infra/log4j2.properties" -Dcourse.log.level=INFO \
      kafka.Kafka "$COURSE_LOCAL/server.properties" >> "$log" 2>&1 < /dev/null &
    echo $! > "$pidfile"
    echo "$port" > "$COURSE_LOCAL/kafka.port"
    say "starting the local Kafka $KAFKA_VERSION broker on $KAFKA_SERVER (pid $!, log: bash infra/kafka.sh logs) ..."
  fi
  local deadline=$((SECONDS + 60))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if broker_answers 2; then
      say "Kafka broker ready on $KAFKA_SERVER"
      return 0
    fi
    local_broker_pid >/dev/null || break
    sleep 1
  done
  tail -n 15 "$log" >&2 || true
  die "the local broker did not come up on $KAFKA_SERVER (log above). Fix: free port $port (another Kafka?), or bash infra/kafka.sh reset"
}

stop() {
  local pid
  mkdir -p "$COURSE_LOCAL"
  touch "$COURSE_LOCAL/stopped-on-purpose"
  if ! pid=$(local_broker_pid); then
    say "the local broker is not running"
    return 0
  fi
  kill "$pid"  # SIGTERM: Kafka's controlled shutdown flushes and closes its logs
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; say "local broker stopped"; return 0; }
    sleep 1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  say "local broker killed (it did not stop within 30 s)"
}

status() {
  if broker_answers; then
    local pid where="not the local one: Docker or elsewhere"
    pid=$(local_broker_pid) && where="local broker, pid $pid"
    echo "Kafka broker answers on $KAFKA_SERVER ($where)"
  else
    echo "No Kafka broker answers on $KAFKA_SERVER. Start one: bash infra/kafka.sh start"
    return 1
  fi
}

cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
  start|stop|status) "$cmd" ;;
  logs)
    [ -f "$log" ] || die "no broker log yet ($log). Fix: bash infra/kafka.sh start"
    if [ "${1:-}" = "-f" ]; then tail -n 50 -f "$log"; else tail -n 50 "$log"; fi ;;
  reset)
    stop
    rm -rf "$data" "$log"
    say "broker data deleted (all topics and offsets); bash infra/kafka.sh start gives a fresh broker" ;;
  topics)             tool org.apache.kafka.tools.TopicCommand "$@" ;;
  console-producer)   tool org.apache.kafka.tools.ConsoleProducer "$@" ;;
  console-consumer)   tool org.apache.kafka.tools.consumer.ConsoleConsumer "$@" ;;
  consumer-groups)    tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@" ;;
  producer-perf-test) tool org.apache.kafka.tools.ProducerPerformance "$@" ;;
  install)            bash "$COURSE_ROOT/infra/fetch_jars.sh" kafka ;;
  help|-h|--help)     sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  *) die "unknown command '$cmd'. Use: bash infra/kafka.sh start|stop|status|logs|reset|topics|console-producer|console-consumer|consumer-groups|producer-perf-test" ;;
esac
