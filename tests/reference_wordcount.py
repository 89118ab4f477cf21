"""The reference for tests/benchmark.py's start-up ratio: a minimal Kafka word count in
the style of apache/spark's examples/src/main/python/sql/streaming/structured_kafka_wordcount.py,
started as its docstring says, with spark-submit and nothing of the course's:

    spark-submit --jars <the Kafka connector's jars> --conf spark.sql.shuffle.partitions=2 \\
        tests/reference_wordcount.py localhost:9092 <topic>
"""

import sys

from pyspark.sql import SparkSession
from pyspark.sql.functions import explode, split

bootstrap_servers, topic = sys.argv[1:3]
spark = SparkSession.builder.appName("StructuredKafkaWordCount").getOrCreate()
lines = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", bootstrap_servers)
    .option("subscribe", topic)
    .option("startingOffsets", "earliest")
    .load()
    .selectExpr("CAST(value AS STRING)")
)
words = lines.select(explode(split(lines.value, " ")).alias("word"))
counts = words.groupBy("word").count()
query = counts.writeStream.outputMode("complete").format("console").start()
query.awaitTermination()
