"""The process side of the lab's pipelines, not their lesson: run a pipeline's Spark
job as a process of its own, show its output indented, wait until it is ready (it
prints a line "ready: ..."), and stop it as Ctrl-C would.

    job = Job("real-time", "structured_copy.py", "--topic", ...)   # starts it
    job.wait_ready()     # or exit with the job's own error line
    job.stop()           # SIGINT: a graceful stop; kill -9 if it hangs
"""

import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SPARK_CONF = os.path.join(HERE, "..", "..", "infra", "spark-conf")


class Job:
    """A pipeline's Spark job: `python SCRIPT OPTIONS` in a session of its own (Ctrl-C
    reaches the lab, which stops the job), its output shown indented."""

    def __init__(self, name, script, *options):
        # The course's Spark logging, and log4j2-lab.properties: stopping a Real-Time Mode
        # query cancels the tasks of the batch under way (a batch lasts until its next
        # checkpoint), and Spark would log each cancelled task.
        conf = os.environ.get("SPARK_CONF_DIR", SPARK_CONF)
        env = {**os.environ, "SPARK_SUBMIT_OPTS": f"-Dlog4j2.configurationFile=file:{conf}/log4j2.properties,"
               f"file:{HERE}/log4j2-lab.properties"}
        # --seconds: a job whose lab was killed (kill -9) still ends, in half an hour
        self.proc = subprocess.Popen([sys.executable, script, *options, "--seconds", "1800"], text=True,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.ready, self.error = threading.Event(), None
        self.relay = threading.Thread(target=self._relay, args=(name,), daemon=True)
        self.relay.start()

    def _relay(self, name):
        behind = 0  # Spark's "Current batch is falling behind", said once, then counted
        for line in self.proc.stdout:
            if line.startswith("error:"):
                self.error = line.strip()  # said once, by the lab
            elif "Current batch is falling behind" in line and behind:
                behind += 1
            elif line.strip() and not line.startswith("WARNING: Using incubator modules"):  # the JVM's
                print(f"    {name} | {line.rstrip()}", flush=True)
                behind += "Current batch is falling behind" in line
            if line.startswith("ready:"):
                self.ready.set()
        if behind > 1:
            print(f"    {name} | (and {behind - 1} more batches falling behind)", flush=True)

    def wait_ready(self, timeout=300):
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.relay.join(5)
                self.stop()
                sys.exit(self.error or f"error: the job exited ({self.proc.returncode}) before it was "
                         "ready; its output is above")

    def stop(self):
        """Ctrl-C for the job: it stops gracefully (see course.py); kill it if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.relay.join(5)
