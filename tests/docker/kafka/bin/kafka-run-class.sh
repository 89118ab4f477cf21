#!/usr/bin/env bash
# Stand-in for a Kafka release's bin/kafka-run-class.sh: run CLASS from /opt/kafka/libs
# with the same environment knobs (KAFKA_HEAP_OPTS, default -Xmx256M; KAFKA_OPTS;
# KAFKA_JVM_PERFORMANCE_OPTS; KAFKA_LOG4J_OPTS).
#   kafka-run-class.sh CLASS [ARGS...]
set -euo pipefail
base_dir=/opt/kafka
heap=${KAFKA_HEAP_OPTS:--Xmx256M}
log4j=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base_dir/config/tools-log4j2.yaml}
perf=${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}
# shellcheck disable=SC2086  # each variable holds several JVM options
exec java $heap $perf ${KAFKA_OPTS:-} $log4j -cp "$base_dir/libs/*" "$@"
