"""How fast the live dashboard shows the stream, and what it costs while the demo runs.

    .venv/bin/python tests/benchmark_dashboard.py [--repeat 3] [--demo-seconds 60] [--skip-demo]

Figures, not tests: it prints a table, ends with one line `BENCH {json}`, and
day2/live_dashboard/README.md quotes it. Needs a broker (bash setup.sh) and Chromium
(bash tests/browser/install_chromium.sh); the page is read in headless Chromium, as the
browser test reads it.

1. Start-up, --repeat times, on fresh topics with a producer sending 5 messages a second
   from the start: seconds from `bash day2/live_dashboard/run.sh` to its address on the
   terminal, to the first point on the page, and to the first message counted on it.
2. The demo (bash day2/live_dashboard/run.sh demo, one browser tab open): seconds from
   opening the page to every panel moving, then the dashboard process's CPU (% of one
   core) and memory (RSS) sampled every 2 s for --demo-seconds.
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SERVER = os.environ.get("KAFKA_SERVER", "localhost:9092")
ROLES = ("messages", "trendy", "tweets", "windows", "model")
PAGE = """
const doc = Bokeh.documents[0];
if (!doc || !doc.get_model_by_name("rate")) return null;
const get = (name) => doc.get_model_by_name(name);
const sum = (name, col) => Array.from(get(name).data[col] || []).reduce((a, b) => a + b, 0);
return {rate: get("rate").get_length(), windows: get("windows").get_length(),
        model: get("model").get_length(), counts: arguments[0].map(t => sum("rate", t))};
"""


def browser():
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,900",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='bench-browser-')}"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def start(*args):
    proc = subprocess.Popen(["bash", str(ROOT / "day2/live_dashboard/run.sh"), *map(str, args)], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "SPARK_UI": "off"}, start_new_session=True)
    proc.lines = []
    threading.Thread(target=lambda: proc.lines.extend(proc.stdout), daemon=True).start()
    return proc


def stop(proc):
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=180)


def until(check, timeout, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(every)
    raise SystemExit(f"timed out after {timeout} s")


def address(proc):
    found = (re.search(r"Dashboard: (http://\S+)", line) for line in list(proc.lines))
    return next((m[1] for m in found if m), None)


def startup(port):
    """One start: (to the address, to the first point, to the first message counted)."""
    topics = {role: f"bench-dash-{role}-{uuid.uuid4().hex[:8]}" for role in ROLES}
    admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVER)
    admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in topics.values()])
    feeding, producer = threading.Event(), KafkaProducer(bootstrap_servers=KAFKA_SERVER)

    def feed():
        while not feeding.wait(0.2):
            message = {"time": int(time.time() * 1000), "msg": "Hello, World!"}
            producer.send(topics["messages"], json.dumps(message).encode())
            producer.flush()

    threading.Thread(target=feed, daemon=True).start()
    began = time.monotonic()
    proc = start("--port", port, "--group", f"bench-{uuid.uuid4().hex[:8]}", "--seconds", 300,
                 *[a for role in ROLES for a in (f"--{role}-topic", topics[role])])
    driver = browser()
    try:
        url = until(lambda: address(proc), 120)
        up = time.monotonic() - began
        driver.get(url)
        state = lambda: driver.execute_script(PAGE, [topics["messages"]])  # noqa: E731
        until(lambda: (s := state()) and s["rate"] > 0, 120)
        point = time.monotonic() - began
        until(lambda: (s := state()) and s["counts"][0] > 0, 120)
        counted = time.monotonic() - began
    finally:
        driver.quit()
        feeding.set()
        stop(proc)
        producer.close()
        admin.delete_topics(list(topics.values()))
        admin.close()
    return up, point, counted


def cpu_and_rss(pid):
    """(user + system CPU seconds, RSS in MB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu, rss


def demo(port, seconds):
    """The demo with one tab open: (page open -> every panel moves, CPU % samples, RSS MB samples)."""
    proc = start("demo", "--port", port, "--group", f"bench-demo-{uuid.uuid4().hex[:8]}",
                 "--starting-offsets", "latest", "--seconds", 900)
    driver = browser()
    try:
        url = until(lambda: address(proc), 180)
        pgrep = ["pgrep", "-f", f"dashboard.py --port {port}"]
        pids = until(lambda: subprocess.run(pgrep, capture_output=True, text=True).stdout.split(), 30)
        pid = int(pids[0])
        driver.get(url)
        opened = time.monotonic()
        inputs = ["test-topic", "trendy-topic", "tweets"]
        until(lambda: (s := driver.execute_script(PAGE, inputs)) and min(s["counts"]) > 0
              and s["windows"] > 0 and s["model"] > 0, 600, every=1)
        moved = time.monotonic() - opened
        cpu, rss = [], []
        last, t0 = cpu_and_rss(pid)[0], time.monotonic()
        for _ in range(int(seconds / 2)):
            time.sleep(2)
            now, t1 = cpu_and_rss(pid), time.monotonic()
            cpu.append(100 * (now[0] - last) / (t1 - t0))
            rss.append(now[1])
            last, t0 = now[0], t1
        driver.save_screenshot(str(ROOT / "day2/live_dashboard/output/benchmark-demo.png"))
    finally:
        driver.quit()
        stop(proc)
    return moved, cpu, rss


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="start-ups to time (default 3)")
    parser.add_argument("--demo-seconds", type=float, default=60, help="how long to sample the demo (60)")
    parser.add_argument("--skip-demo", action="store_true", help="only the start-ups")
    parser.add_argument("--port", type=int, default=5116, help="the dashboard's port here (5116)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    result = {"startup": []}
    print("start-up (s)   address   first point   first message", flush=True)
    for i in range(args.repeat):
        up, point, counted = startup(args.port)
        result["startup"].append({"address_s": round(up, 1), "first_point_s": round(point, 1),
                                  "first_message_s": round(counted, 1)})
        print(f"  run {i + 1}        {up:7.1f}   {point:11.1f}   {counted:13.1f}", flush=True)
    if not args.skip_demo:
        moved, cpu, rss = demo(args.port, args.demo_seconds)
        result["demo"] = {"every_panel_moves_s": round(moved, 1),
                          "cpu_percent_median": round(statistics.median(cpu), 1),
                          "cpu_percent_max": round(max(cpu), 1), "rss_mb_max": round(max(rss), 1),
                          "samples": len(cpu)}
        print(f"demo: every panel moved {moved:.0f} s after the page was opened; the dashboard process over "
              f"{args.demo_seconds:g} s: CPU {statistics.median(cpu):.1f}% median, {max(cpu):.1f}% max "
              f"(of one core), RSS {max(rss):.0f} MB max", flush=True)
    result["load_average_after"] = round(os.getloadavg()[0], 1)
    print("BENCH " + json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
