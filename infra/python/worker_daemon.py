"""Spark's Python worker daemon (pyspark.daemon), without the zip archives on sys.path.

Spark starts one daemon per executor and forks a Python worker from it; the worker
runs one task after another. Spark puts pyspark.zip, py4j's zip and the spark-core
jar first on the workers' PYTHONPATH, and before each task a worker calls
importlib.invalidate_caches(). On Python 3.10 and 3.11 that call re-reads the
directory of every zip archive, once per package imported from it (CPython issue
103200, fixed in 3.12): about 0.1 s per task on a laptop, for every Spark job that
runs Python code. A DStream batch runs several such jobs.

pip's pyspark has the same files unzipped in site-packages, so this daemon drops the
archives from sys.path before it imports pyspark, and the workers it forks inherit
that. (A Spark download without pip's pyspark keeps them: pyspark lives only there.)
infra/spark-conf/spark-defaults.conf names it: spark.python.daemon.module.
"""

import importlib.util
import sys

archives = [p for p in sys.path if p.endswith((".zip", ".jar"))]
sys.path[:] = [p for p in sys.path if p not in archives]
if importlib.util.find_spec("pyspark") is None:
    sys.path[:0] = archives

from pyspark.daemon import manager  # noqa: E402  (after sys.path is set)

if __name__ == "__main__":
    manager()
