#!/usr/bin/env bash
# Resolve a pinned set of Java jars from Maven Central into infra/local/jars/NAME
# and verify every jar against infra/checksums/NAME.sha256.
#
#   bash infra/fetch_jars.sh kafka         # the Apache Kafka broker and its tools
#   bash infra/fetch_jars.sh spark-kafka   # Spark's Kafka source (spark-sql-kafka-0-10)
#   bash infra/fetch_jars.sh --repin NAME  # maintainers: re-resolve, rewrite the checksums
#
# The resolver is Apache Ivy, the same one Spark uses for --packages; pyspark ships
# it (pyspark/jars/ivy-*.jar), so nothing but Java and the course's .venv is needed.
# Already fetched and verified: returns at once, without touching the network.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=infra/common.sh
source "$here/common.sh"

repin=false
if [ "${1:-}" = "--repin" ]; then repin=true; shift; fi
name=${1:-}

case "$name" in
  kafka)
    # kafka_2.13 is the broker (kafka.Kafka); kafka-tools holds the command-line
    # tools (topics, console producer/consumer, consumer groups, perf test);
    # log4j-slf4j-impl routes the broker's log lines to log4j2, as the release does.
    deps="org.apache.kafka kafka_${SCALA_BINARY} ${KAFKA_VERSION}
org.apache.kafka kafka-tools ${KAFKA_VERSION}
org.apache.logging.log4j log4j-slf4j-impl 2.25.4"
    ;;
  spark-kafka)
    # What `--packages org.apache.spark:spark-sql-kafka-0-10_2.13:<spark>` resolves.
    deps="org.apache.spark spark-sql-kafka-0-10_${SCALA_BINARY} ${SPARK_VERSION}"
    ;;
  *)
    echo "usage: bash infra/fetch_jars.sh [--repin] kafka|spark-kafka" >&2
    exit 2
    ;;
esac

dest="$COURSE_LOCAL/jars/$name"
sums="$here/checksums/$name.sha256"

verify() {  # every jar listed, each with its pinned checksum, and no others
  [ -f "$sums" ] && [ -d "$dest" ] || return 1
  [ "$(find "$dest" -name '*.jar' | wc -l)" -eq "$(grep -c . "$sums")" ] || return 1
  (cd "$dest" && sha256_check < "$sums") >/dev/null 2>&1
}

if ! $repin && verify; then
  echo "OK: $name jars already resolved and verified"
  exit 0
fi

require_java kafka
ivy_jar=$(find_ivy_jar) || die "pyspark is not installed in .venv (it ships the Ivy resolver). Fix: bash setup.sh"

echo "Resolving $name jars from Maven Central (once; cached afterwards) ..."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  echo '<ivy-module version="2.0"><info organisation="course" module="'"$name"'"/><dependencies>'
  while read -r org module rev; do
    echo "<dependency org=\"$org\" name=\"$module\" rev=\"$rev\" conf=\"default\"/>"
  done <<< "$deps"
  echo '</dependencies></ivy-module>'
} > "$work/ivy.xml"

rm -rf "$dest" && mkdir -p "$dest"
# Ivy checks each download against the repository's own .sha1 file; our pinned
# SHA-256 list below is the second check, and pins the exact resolution.
if ! java -jar "$ivy_jar" -ivy "$work/ivy.xml" -confs default \
      -retrieve "$dest/[artifact]-[revision](-[classifier]).[ext]" > "$work/ivy.log" 2>&1; then
  tail -n 20 "$work/ivy.log" >&2
  die "could not resolve the $name jars (no network?). Fix: check the connection, then run bash setup.sh again"
fi

if [ "$name" = spark-kafka ]; then
  # Keep only what pyspark does not already ship (the same file is in pyspark/jars):
  # the connector, its token provider, kafka-clients and commons-pool2.
  bundled=$(dirname "$ivy_jar")
  for jar in "$dest"/*.jar; do
    if [ -f "$bundled/$(basename "$jar")" ]; then rm -f "$jar"; fi
  done
fi

if $repin; then
  (cd "$dest" && sha256_sum ./*.jar | sed 's# \./# #' | LC_ALL=C sort -k 2) > "$sums"
  echo "Wrote $(grep -c . "$sums") checksums to infra/checksums/$name.sha256"
elif ! verify; then
  rm -rf "$dest"
  die "the $name jars do not match infra/checksums/$name.sha256 (tampered or changed upstream). Fix: report it; maintainers re-pin with bash infra/fetch_jars.sh --repin $name"
fi
echo "OK: $name jars in ${dest#"$COURSE_ROOT"/}"
