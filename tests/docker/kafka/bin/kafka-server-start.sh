#!/usr/bin/env bash
# Stand-in for a Kafka release's bin/kafka-server-start.sh: the broker, 1 GB heap
# unless KAFKA_HEAP_OPTS says otherwise, its log on stdout.
#   kafka-server-start.sh server.properties
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
export KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml}
exec /opt/kafka/bin/kafka-run-class.sh kafka.Kafka "$@"
