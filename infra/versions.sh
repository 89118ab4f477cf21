# shellcheck shell=bash
# The pinned versions of the course, in one place. Sourced by setup.sh, infra/*.sh
# and the Dockerfiles' build steps; tests/test_static.py checks that
# requirements.txt (pyspark) and docker-compose.yml (apache/kafka image) agree.
#
# Upgrading next year: change a version here and in those two files, then run
#   bash infra/fetch_jars.sh --repin kafka
#   bash infra/fetch_jars.sh --repin spark-kafka
# to re-resolve the jars and rewrite infra/checksums/, and run the test suite
# (README.md, "Upgrading Spark", has the whole list for Spark).
KAFKA_VERSION=4.3.1     # Apache Kafka broker and tools (KRaft), same as the Docker image
SPARK_VERSION=4.2.0     # pyspark from PyPI; the Kafka connector must have the same version
                        # (4.3.0's connector is not served yet: README.md, "Upgrading Spark")
SCALA_BINARY=2.13       # Scala build of the Kafka and Spark jars
export KAFKA_VERSION SPARK_VERSION SCALA_BINARY
