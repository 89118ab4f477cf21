"""Spark's Python worker daemon (infra/python/worker_daemon.py, the course's default),
with pyspark.mllib imported once before it forks the workers.

Spark starts one daemon per executor and forks a Python worker from it for each
task; a worker is reused for the next task only if it read all of its input. MLlib's
streaming models (trainOn) run take() jobs every batch, and take() leaves input
unread, so each batch forks fresh workers. Each of them would import pyspark.mllib
(about half a second) to unpickle its rows. A DStream script that sets

    conf.set("spark.python.daemon.module", "mllib_daemon")

pays that import once, when the daemon starts.
"""

from worker_daemon import manager  # isort: skip  (first: it sets sys.path for pyspark)
import pyspark.mllib.regression  # noqa: F401  (imported before the fork: workers inherit it)

if __name__ == "__main__":
    manager()
