#!/usr/bin/env bash
# Stand-in for a Kafka release's command-line tools: /opt/kafka/bin/kafka-NAME.sh is a
# link to this script, which runs the tool's class, as the release's script does.
case "$(basename "$0")" in
  kafka-topics.sh)              class=org.apache.kafka.tools.TopicCommand ;;
  kafka-console-producer.sh)    class=org.apache.kafka.tools.ConsoleProducer ;;
  kafka-console-consumer.sh)    class=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
  kafka-consumer-groups.sh)     class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
  kafka-producer-perf-test.sh)  class=org.apache.kafka.tools.ProducerPerformance ;;
  kafka-broker-api-versions.sh) class=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
  kafka-metadata-quorum.sh)     class=org.apache.kafka.tools.MetadataQuorumCommand ;;
  kafka-storage.sh)             class=kafka.tools.StorageTool ;;
  kafka-cluster.sh)             class=org.apache.kafka.tools.ClusterTool ;;
  kafka-configs.sh)             class=kafka.admin.ConfigCommand ;;
  *) echo "error: $(basename "$0") is not a Kafka tool this stand-in image knows" >&2; exit 2 ;;
esac
exec /opt/kafka/bin/kafka-run-class.sh "$class" "$@"
