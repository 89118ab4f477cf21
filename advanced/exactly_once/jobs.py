"""The process side of the exactly-once scenario, not its lesson: run a Spark job
script as a process of its own, show its output, and crash it the way a power cut
would: kill -9 for its Python, its JVM and Spark's Python workers at once.

    job = Job("run 1", "naive.py", "--topic", ...)   # starts it
    job.wait_until("a stall", lambda: job.stalled.is_set())
    job.kill_9()                                     # -> ["python 123", "java 456", ...]
    job.wait()                                       # -> its exit status
"""

import os
import signal
import subprocess
import sys
import threading
import time


def processes():
    """{pid: (parent pid, command)} of every live process (zombies are dead), from ps."""
    ps = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,stat=,comm="], capture_output=True, text=True).stdout
    return {int(p): (int(pp), cmd) for p, pp, stat, cmd in (line.split(None, 3) for line in ps.splitlines())
            if stat[0] != "Z"}


class Job:
    """`python SCRIPT OPTIONS`, in a session of its own: a Ctrl-C in the terminal
    reaches the scenario only, which then kills the job. Its output is printed
    indented after LABEL; `stalled` is set once it prints a line "stalling: ..."."""

    def __init__(self, label, script, *options):
        self.proc = subprocess.Popen([sys.executable, script, *options], text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.stalled = threading.Event()
        self.relay = threading.Thread(target=self._relay, args=(label,), daemon=True)
        self.relay.start()

    def _relay(self, label):
        for line in self.proc.stdout:
            if line.startswith("WARNING: Using incubator modules"):
                continue  # the JVM says so at every start: noise
            print(f"    {label} | {line.rstrip()}", flush=True)
            if line.startswith("stalling:"):
                self.stalled.set()

    def running(self):
        return self.proc.poll() is None

    def wait_until(self, what, done, timeout=300):
        """Wait until done() is true; exit with an error if the job ends first."""
        deadline = time.monotonic() + timeout
        while not done():
            if not self.running():
                sys.exit(f"error: the Spark job exited ({self.proc.returncode}) before {what}; "
                         "its output is above")
            if time.monotonic() > deadline:
                sys.exit(f"error: no {what} after {timeout} s (is the machine very busy?)")
            time.sleep(0.3)

    def wait(self, timeout=300):
        self.proc.wait(timeout)
        self.relay.join()
        return self.proc.returncode

    def kill_9(self):
        """A crash of the whole job: no shutdown hook, no finally, no last word. Its
        processes: python (the driver) > java (its JVM) > python (Spark's daemon for
        Python workers) > python (the workers). Returns them, once they are gone."""
        table, tree = processes(), [self.proc.pid]
        for _ in range(4):
            tree += [p for p, (parent, _) in table.items() if parent in tree and p not in tree]
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.wait()
        for _ in range(100):  # until every one of them is gone
            if not set(tree) & processes().keys():
                break
            time.sleep(0.1)
        return [f"{table[pid][1]} {pid}" for pid in tree if pid in table]
