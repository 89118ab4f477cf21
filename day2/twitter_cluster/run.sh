#!/usr/bin/env bash
# Tweet language clustering: replay tweets into Kafka, train k-means, cluster them live.
# Usage: bash day2/twitter_cluster/run.sh producer|train|predict|streaming-kmeans [args]
#        (each script has --help, e.g. bash day2/twitter_cluster/run.sh predict --help)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../infra/common.sh
source "$here/../../infra/common.sh"

usage="usage: bash day2/twitter_cluster/run.sh producer|train|predict|streaming-kmeans [args]  (--help after the word for its options)"
[ $# -ge 1 ] || die "$usage"
word=$1
shift
case "$word" in
  producer)         prepare_exercise; script=producer.py ;;            # Kafka only
  train)            use_venv; require_java; script=train.py ;;         # Spark, no Kafka
  predict)          prepare_spark_exercise; script=predict.py ;;       # Spark + Kafka
  streaming-kmeans) prepare_spark_exercise; script=streaming_kmeans.py ;;
  -h|--help|help)   echo "$usage"; exit 0 ;;
  *)                die "unknown word '$word'; $usage" ;;
esac
exec python "$here/$script" "$@"
