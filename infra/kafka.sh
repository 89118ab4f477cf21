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
# It serves KAFKA_SERVER's port (default localhost:9092; its controller the next port, or
# KAFKA_CONTROLLER_PORT) and keeps its data, log and pid in infra/local/. Another folder in
# KAFKA_BROKER_DIR and another port make a second, separate broker (the outage tests'):
#   KAFKA_BROKER_DIR=/tmp/broker2 KAFKA_SERVER=localhost:29092 bash infra/kafka.sh start|stop|status
#
# Kafka's own command-line tools (kafka-topics.sh & co. in a release), with
# --bootstrap-server KAFKA_SERVER added when you leave it out:
#   bash infra/kafka.sh topics --list
#   bash infra/kafka.sh console-consumer --topic test-topic --from-beginning
#   bash infra/kafka.sh console-producer --topic test-topic
#   bash infra/kafka.sh consumer-groups --list
#   bash infra/kafka.sh producer-perf-test --topic perf --num-records 100000 --record-size 100 --throughput -1
#
# A three-broker cluster on this machine (advanced/kafka_cluster), beside the single
# broker and from the same jars. Broker N (1, 2, 3) serves clients on localhost:1919(1+N)
# (19192, 19193, 19194) and is a KRaft controller on 1929(1+N) (19292, 19293, 19294):
# the three are the voters of the metadata quorum. Its files: infra/local/cluster/.
#   bash infra/kafka.sh cluster start       start the brokers not running; returns once they answer
#   bash infra/kafka.sh cluster stop        stop the three brokers
#   bash infra/kafka.sh cluster status      which brokers answer, and the KRaft quorum
#   bash infra/kafka.sh cluster kill N      kill -9 broker N (a crash: no clean shutdown)
#   bash infra/kafka.sh cluster restart N   start broker N again
#   bash infra/kafka.sh cluster servers     its bootstrap list: localhost:19192,localhost:19193,...
#   bash infra/kafka.sh cluster running     exit 0 when the three broker processes run
#   bash infra/kafka.sh cluster reset       stop it and delete its data
set -euo pipefail
# shellcheck source=infra/common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

jars="$COURSE_LOCAL/jars/kafka"
data="$KAFKA_BROKER_DIR/kafka-data"
log="$KAFKA_BROKER_DIR/kafka.log"
pidfile="$KAFKA_BROKER_DIR/kafka.pid"   # with kafka.port beside it: what local_broker_pid reads
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
    [ "$(cat "$KAFKA_BROKER_DIR/kafka.port" 2>/dev/null)" = "$port" ] || \
      die "the local broker (pid $pid) runs on localhost:$(cat "$KAFKA_BROKER_DIR/kafka.port"), not $KAFKA_SERVER. Fix: bash infra/kafka.sh stop first, or unset KAFKA_SERVER"
    say "the local broker (pid $pid) is running but not answering yet; waiting ..."
  else
    require_java kafka
    local p
    for p in "$port" "$controller_port"; do
      if port_in_use "$p"; then
        die "port $p (the broker's $([ "$p" = "$port" ] && echo "port for clients" || echo "controller port")) is already taken by $(port_user "$p"). Fix: stop that program, or start the broker on other ports: KAFKA_SERVER=localhost:29092 bash infra/kafka.sh start"
      fi
    done
    bash "$COURSE_ROOT/infra/fetch_jars.sh" kafka
    mkdir -p "$KAFKA_BROKER_DIR"
    # The effective config: the commented template plus this machine's paths/ports.
    {
      cat "$COURSE_ROOT/infra/kafka-server.properties"
      echo
      echo "# --- added by infra/kafka.sh ---"
      echo "log.dirs=$data"
      echo "listeners=PLAINTEXT://localhost:$port,CONTROLLER://localhost:$controller_port"
      echo "advertised.listeners=PLAINTEXT://localhost:$port"
      echo "controller.quorum.bootstrap.servers=localhost:$controller_port"
    } > "$KAFKA_BROKER_DIR/server.properties"
    if [ ! -f "$data/meta.properties" ]; then
      # KRaft storage is formatted once, with a cluster id, before the first start.
      local cluster_id
      cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid)
      kafka_java kafka.tools.StorageTool format --standalone -t "$cluster_id" \
        -c "$KAFKA_BROKER_DIR/server.properties" >/dev/null
    fi
    rm -f "$KAFKA_BROKER_DIR/stopped-on-purpose"
    # In the background, detached from the terminal (setsid where there is one), so
    # that Ctrl-C in the exercise that started it does not stop the broker too.
    local detach=()
    command -v setsid >/dev/null && detach=(setsid)
    # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS holds several JVM options
    nohup ${detach[@]+"${detach[@]}"} java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m} -cp "$jars/*" \
      -Dlog4j2.configurationFile="$COURSE_ROOT/infra/log4j2.properties" -Dcourse.log.level=INFO \
      kafka.Kafka "$KAFKA_BROKER_DIR/server.properties" >> "$log" 2>&1 < /dev/null &
    echo $! > "$pidfile"
    echo "$port" > "$KAFKA_BROKER_DIR/kafka.port"
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
  mkdir -p "$KAFKA_BROKER_DIR"
  touch "$KAFKA_BROKER_DIR/stopped-on-purpose"
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
  elif ! kafka_server_is_local; then
    echo "No Kafka broker answers on $KAFKA_SERVER. Start it, or fix KAFKA_SERVER"
    return 1
  elif port_in_use "$port" && ! local_broker_on_port; then
    echo "No Kafka broker answers on $KAFKA_SERVER: $(no_broker_reason). Stop that program, or set KAFKA_SERVER to your Kafka broker's address"
    return 1
  elif local_broker_on_port; then
    echo "No Kafka broker answers on $KAFKA_SERVER: $(no_broker_reason). Wait, or read its log: bash infra/kafka.sh logs"
    return 1
  else
    echo "No Kafka broker answers on $KAFKA_SERVER: $(no_broker_reason). Start one: bash infra/kafka.sh start"
    return 1
  fi
}

# --- the three-broker cluster (bash infra/kafka.sh cluster ...) ------------------------
cluster_dir="$COURSE_LOCAL/cluster"
nodes=(1 2 3)
broker_port() { echo $((19191 + $1)); }      # clients:    19192 19193 19194
quorum_port() { echo $((19291 + $1)); }      # controller: 19292 19293 19294
join() { local IFS=,; echo "$*"; }
cluster_servers() { local n l=(); for n in "${nodes[@]}"; do l+=("localhost:$(broker_port "$n")"); done; join "${l[@]}"; }
node_pid() {  # the pid of broker N, if it runs
  local pid
  pid=$(cat "$cluster_dir/broker$1/pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

node_config() {  # the server.properties of broker N
  local n=$1 m voters=()
  for m in "${nodes[@]}"; do voters+=("$m@localhost:$(quorum_port "$m")"); done
  cat <<EOF
# Broker $n of the course's three-broker cluster (written by bash infra/kafka.sh cluster start).
# Each node is a broker and a controller (KRaft combined mode); the three controllers
# are the voters of the metadata quorum that replaced ZooKeeper (a static quorum).
node.id=$n
process.roles=broker,controller
controller.quorum.voters=$(join "${voters[@]}")
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://localhost:$(broker_port "$n"),CONTROLLER://localhost:$(quorum_port "$n")
advertised.listeners=PLAINTEXT://localhost:$(broker_port "$n")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$cluster_dir/broker$n/data
# Three copies of everything; a write with acks=all needs two of them in sync.
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
# Never elect a leader that is not in sync: it would drop acknowledged messages.
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
log.segment.bytes=67108864
EOF
}

launch_node() {  # start broker N in the background, detached from the terminal
  local n=$1 dir="$cluster_dir/broker$1" detach=()
  command -v setsid >/dev/null && detach=(setsid)
  # Small heaps so that three fit; the simple garbage collector and the quick JIT
  # only: start-up is mostly JIT work, and three JVMs share this machine's cores.
  # shellcheck disable=SC2086  # KAFKA_CLUSTER_JVM_OPTS holds several JVM options
  nohup ${detach[@]+"${detach[@]}"} java ${KAFKA_CLUSTER_JVM_OPTS:--Xmx256m -Xms256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1} \
    -cp "$jars/*" \
    -Dlog4j2.configurationFile="$COURSE_ROOT/infra/log4j2.properties" -Dcourse.log.level=INFO \
    kafka.Kafka "$dir/server.properties" >> "$dir/kafka.log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
  say "broker $n starting on localhost:$(broker_port "$n") (pid $!, log: infra/local/cluster/broker$n/kafka.log)"
}

wait_nodes() {  # wait_nodes N...: until each of these brokers answers
  local n deadline=$((SECONDS + ${KAFKA_CLUSTER_START_TIMEOUT:-120}))
  for n in "$@"; do
    until KAFKA_SERVER="localhost:$(broker_port "$n")" broker_answers 2; do
      if ! node_pid "$n" >/dev/null; then
        tail -n 15 "$cluster_dir/broker$n/kafka.log" >&2 || true
        die "broker $n exited during start-up (its log above). Fix: bash infra/kafka.sh cluster reset"
      fi
      [ "$SECONDS" -lt "$deadline" ] || \
        die "broker $n did not answer on localhost:$(broker_port "$n") in time (log: $cluster_dir/broker$n/kafka.log)"
      sleep 1
    done
  done
}

cluster_start() {  # cluster_start [N...]: start these brokers (default: every one not running)
  local n p pid todo=() running=() wanted=("${nodes[@]}")
  [ $# -eq 0 ] || wanted=("$@")
  for n in "${wanted[@]}"; do
    if pid=$(node_pid "$n"); then running+=("broker $n (pid $pid)"); else todo+=("$n"); fi
  done
  if [ ${#todo[@]} -eq 0 ]; then
    say "already running: $(join "${running[@]}" | sed 's/,/, /g'); bootstrap servers $(cluster_servers)"
    return 0
  fi
  require_java kafka
  [ -d "$jars" ] || bash "$COURSE_ROOT/infra/fetch_jars.sh" kafka >&2
  for n in "${todo[@]}"; do
    for p in "$(broker_port "$n")" "$(quorum_port "$n")"; do
      if port_in_use "$p"; then
        die "port $p (broker $n) is already taken by $(port_user "$p"). Fix: stop that program, then bash infra/kafka.sh cluster start"
      fi
    done
  done
  mkdir -p "$cluster_dir"
  # One cluster id for the three nodes: each node's storage is formatted with it, once.
  [ -s "$cluster_dir/cluster.id" ] || kafka_java kafka.tools.StorageTool random-uuid > "$cluster_dir/cluster.id"
  for n in "${todo[@]}"; do
    mkdir -p "$cluster_dir/broker$n"
    node_config "$n" > "$cluster_dir/broker$n/server.properties"
    if [ ! -f "$cluster_dir/broker$n/data/meta.properties" ]; then
      kafka_java kafka.tools.StorageTool format -t "$(cat "$cluster_dir/cluster.id")" \
        -c "$cluster_dir/broker$n/server.properties" >/dev/null &
    fi
  done
  wait
  for n in "${todo[@]}"; do launch_node "$n"; done
  wait_nodes "${todo[@]}"
  say "cluster ready (started broker $(join "${todo[@]}")); bootstrap servers $(cluster_servers)"
}

cluster_stop() {
  local n pid alive pids=()
  for n in "${nodes[@]}"; do
    # SIGTERM to all three at once: each shuts down cleanly (a lone survivor would
    # wait for a quorum that is gone).
    if pid=$(node_pid "$n"); then kill "$pid"; pids+=("$pid"); fi
    rm -f "$cluster_dir/broker$n/pid"
  done
  [ ${#pids[@]} -gt 0 ] || { say "the cluster is not running"; return 0; }
  # A lone node cannot shut down cleanly: its controlled shutdown needs a quorum.
  local limit=30
  [ ${#pids[@]} -ge 2 ] || limit=5
  for _ in $(seq 1 "$limit"); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 1 ] || { say "cluster stopped"; return 0; }
    sleep 1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  say "cluster killed (it did not stop within $limit s)"
}

cluster_status() {
  local n pid up=0
  for n in "${nodes[@]}"; do
    if KAFKA_SERVER="localhost:$(broker_port "$n")" broker_answers 3; then
      echo "broker $n  localhost:$(broker_port "$n")  answers (pid $(node_pid "$n" || echo "?"))"; up=$((up + 1))
    elif pid=$(node_pid "$n"); then
      echo "broker $n  localhost:$(broker_port "$n")  running (pid $pid), no answer within 3 s"
    else
      echo "broker $n  localhost:$(broker_port "$n")  down"
    fi
  done
  local l=() out
  for n in "${nodes[@]}"; do node_pid "$n" >/dev/null && l+=("localhost:$(quorum_port "$n")"); done
  echo "KRaft controller quorum (MetadataQuorumCommand describe --status):"
  if [ ${#l[@]} -eq 0 ]; then
    echo "  none: the cluster is not running. Start it: bash infra/kafka.sh cluster start"
  elif [ ${#l[@]} -lt 2 ]; then
    echo "  no quorum: ${#l[@]} of the 3 controllers run, a leader needs a majority (2); the metadata is frozen"
  else
    printf 'default.api.timeout.ms=15000\nrequest.timeout.ms=5000\n' > "$cluster_dir/admin.properties"
    if out=$(COURSE_KAFKA_LOG_LEVEL=ERROR kafka_java org.apache.kafka.tools.MetadataQuorumCommand \
        --bootstrap-controller "$(join "${l[@]}")" --command-config "$cluster_dir/admin.properties" \
        describe --status 2>&1); then
      echo "$out" | sed 's/^/  /'
    else
      echo "  no answer within 15 s (a quorum needs 2 of the 3 controllers): $(echo "$out" | grep -m 1 -o 'TimeoutException.*\|Exception.*' || echo "$out" | tail -n 1)"
    fi
  fi
  [ "$up" -eq ${#nodes[@]} ]
}

cluster() {
  local sub=${1:-status} n=${2:-}
  case "$sub" in
    start) cluster_start ;;
    stop) cluster_stop ;;
    status) cluster_status ;;
    servers) cluster_servers ;;
    running) for n in "${nodes[@]}"; do node_pid "$n" >/dev/null || return 1; done ;;
    reset) cluster_stop; rm -rf "$cluster_dir"; say "cluster data deleted" ;;
    kill|restart)
      [[ " ${nodes[*]} " == *" $n "* ]] || die "which broker? Use: bash infra/kafka.sh cluster $sub 1|2|3"
      if [ "$sub" = restart ]; then cluster_start "$n"; return; fi
      local pid
      pid=$(node_pid "$n") || { say "broker $n is not running"; return 0; }
      kill -9 "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      say "broker $n (pid $pid) killed with kill -9: no clean shutdown. Back: bash infra/kafka.sh cluster restart $n" ;;
    *) die "unknown cluster command '$sub'. Use: bash infra/kafka.sh cluster start|stop|status|kill N|restart N|servers|running|reset" ;;
  esac
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
  cluster)            cluster "$@" ;;
  install)            bash "$COURSE_ROOT/infra/fetch_jars.sh" kafka ;;
  help|-h|--help)     sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  *) die "unknown command '$cmd'. Use: bash infra/kafka.sh start|stop|status|logs|reset|cluster|topics|console-producer|console-consumer|consumer-groups|producer-perf-test" ;;
esac
