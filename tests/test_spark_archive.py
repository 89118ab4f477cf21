"""setup.sh's class-data archive (infra/python/spark_archive.py): Spark's driver JVM maps
it when it was made for this Java and this Spark, and starts without it otherwise."""

import os
import subprocess
import sys

import spark_archive

JOB = """
import course
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("rows", spark.range(5).count())
spark.stop()
"""


def test_spark_driver_maps_the_archive_setup_made(tmp_path):
    archive = spark_archive.archive_for_this_java()
    assert archive, "no class-data archive for this Java and Spark: bash setup.sh makes it"
    log = tmp_path / "cds.log"
    env = {**os.environ, "SPARK_UI": "off", "JAVA_TOOL_OPTIONS": f"-Xlog:cds=info:file={log}"}
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    proc = subprocess.run([sys.executable, "-c", JOB], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0 and "rows 5" in proc.stdout, proc.stdout + proc.stderr
    text = log.read_text()
    assert f"Opened archive {archive}." in text, text[-2000:]
    assert "Mapped dynamic region" in text, text[-2000:]  # the classes came from the archive


def test_an_archive_made_for_another_java_or_spark_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_archive, "ARCHIVE", str(tmp_path / "spark.jsa"))
    monkeypatch.setattr(spark_archive, "STAMP", str(tmp_path / "spark.jsa.stamp"))
    (tmp_path / "spark.jsa").write_bytes(b"archive")
    stamp = tmp_path / "spark.jsa.stamp"
    for kafka in ("", "\n" + spark_archive.WITH_KAFKA):  # made with a broker or without one
        stamp.write_text(spark_archive._fingerprint() + kafka)
        assert spark_archive.archive_for_this_java() == str(tmp_path / "spark.jsa")
    for other in ("java /usr/lib/jvm/another/bin/java 1 2", "pyspark 4.1.0"):
        first, rest = spark_archive._fingerprint().split("\n", 1)
        stamp.write_text(f"{other}\n{rest}" if other.startswith("java") else f"{first}\n{other}\n"
                         + rest.split("\n", 1)[1])
        assert spark_archive.archive_for_this_java() is None, other
