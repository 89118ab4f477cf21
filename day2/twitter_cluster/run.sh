#!/usr/bin/env bash
# twitter_cluster: which language is this tweet in? k-means in batch, then on the stream.
#
# Usage: bash day2/twitter_cluster/run.sh [PART] [OPTIONS]
#   train                (the default) fit k-means on the corpus (Spark, no Kafka), save the model
#   producer             replay the corpus as tweets into the topic tweets
#   predict              label every tweet of the stream with the saved model
#   streaming-kmeans     k-means that learns from the stream itself
#   solutions/NAME.py    a worked solution of the README's exercises
# OPTIONS go to the part's script: bash day2/twitter_cluster/run.sh predict --help
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

choose_part "$0" train "train producer predict streaming-kmeans" "$@"
case "$part" in
  train)            script=train.py; prepare_spark ;;   # venv, Java
  producer)         script=producer.py; prepare_kafka ;;  # venv, a broker
  predict)          script=predict.py; prepare_spark_kafka ;;  # venv, Java, the connector, a broker
  streaming-kmeans) script=streaming_kmeans.py; prepare_spark_kafka ;;
  solution)         prepare_spark_kafka ;;
esac
exec python "$here/$script" ${args[@]+"${args[@]}"}
