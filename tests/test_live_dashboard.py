"""day2/live_dashboard in a real browser: headless Chromium (Debian's chromium and
chromium-driver, installed by bash tests/browser/install_chromium.sh) driven by
Selenium. The dashboard reads real topics on the real broker; the test feeds them,
reads what each panel holds from the page itself (Bokeh.documents[0]), feeds more and
sees the panels grow without a reload. The demo (every producer and Spark job that
feeds the page) runs for real in a slow test. Without Chromium the browser tests are
skipped with one line naming the packages; under CI (CI=true) that is a failure.

The malformed values here are a handful per panel, counted on the page; the course's
whole corpus of bad values (tests/bad_values.py) goes through the dashboard's producer
topics in tests/test_bad_input.py.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from conftest import KAFKA_SERVER, ROOT, assert_clean_output, final, malformed_reported, run_exercise

RUN = "day2/live_dashboard/run.sh"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PNG = b"\x89PNG\r\n\x1a\n"
ROLES = ("messages", "trendy", "tweets", "windows", "model")
BASE = 1_704_067_200_000  # 2024-01-01 00:00:00 UTC: the windows' event time

# Malformed values per role, each counted on the page and skipped.
BAD = {
    "messages": [b"not JSON at all", b'{"time": "yesterday", "msg": "Hello"}', b"\xff\xfe\x00 not UTF-8"],
    "trendy": [b'{"t": 1.0, "rows": [{"x": [0.5], "known": true, "label": 1.0}]}', b"[1, 2, 3]"],
    "tweets": [b'{"lang": "en"}', None],  # no text; a tombstone (a key, no value)
    "windows": [b'{"start": 5000, "end": 1000, "count": 2}', b'{"start": 0, "end": 10000, "count": NaN}'],
    "model": [b'{"batch": 1, "t": 1.0, "learned": [1, 2], "true": [1, 2, 3, 4, 5], "rmse": null}', b"null"],
}


def browser_or_skip():
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    why = ("no Chromium for the browser test: install Debian's chromium and chromium-driver "
           "(as root: bash tests/browser/install_chromium.sh)")
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture
def browser():
    browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    profile = tempfile.mkdtemp(prefix="dashboard-browser-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,900", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM  # Debian's, so that Selenium Manager downloads nothing
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()
    subprocess.run(["rm", "-rf", profile], check=False)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(*args, env=None):
    """run.sh with args, in a session of its own (as in a terminal), its output
    collected; on leaving, Ctrl-C (SIGINT to its process group) and wait for the exit."""
    env = {**os.environ, "KAFKA_SERVER": KAFKA_SERVER, "SPARK_UI": "off", **(env or {})}
    proc = subprocess.Popen(["bash", str(ROOT / RUN), *map(str, args)], cwd=ROOT, text=True, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    proc.lines = []
    reader = threading.Thread(target=lambda: proc.lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(10)
        proc.output = "".join(proc.lines)


def wait_for(what, check, timeout=90, every=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def printed(proc, pattern):
    return next((m for line in list(proc.lines) if (m := re.search(pattern, line))), None)


PAGE = """
const doc = Bokeh.documents[0];
if (!doc || !doc.get_model_by_name("rate")) return null;
const get = (name) => doc.get_model_by_name(name);
const column = (name, col) => Array.from(get(name).data[col] || []);
const sum = (values) => values.reduce((a, b) => a + b, 0);
return {
  points: Object.fromEntries(["rate", "windows", "model", "dropped"].map(n => [n, get(n).get_length()])),
  rate: Object.fromEntries(arguments[0].map(t => [t, sum(column("rate", t))])),
  windows: column("windows", "start").map((start, i) => [start, column("windows", "count")[i]]),
  malformed: get("malformed").text,
  waiting: Object.fromEntries(["rate-waiting", "windows-waiting", "weights-waiting", "errors-waiting"]
    .map(n => [n, get(n).visible ? get(n).text : null])),
  not_reloaded: window.__not_reloaded === true,
};
"""


def page_state(driver, inputs):
    return driver.execute_script(PAGE, inputs)


def window_record(start, count):
    return str(start), {"start": start, "end": start + 10_000, "count": count}


def model_record(batch):
    true = [0.01 * batch * w for w in (1, 3, 2, -2, -1)]
    return {"batch": batch, "t": 2.0 * batch, "trained_rows": 5, "predicted_rows": 5, "true": true,
            "learned": [0.9 * w for w in true], "rmse": 0.02, "frozen_rmse": 0.02 * batch,
            "weight_error": 0.1}


def trendy_message(t):
    rows = [{"x": [0.1, 0.2, 0.3, 0.4, 0.5], "known": True, "label": 0.3},
            {"x": [0.5, 0.4, 0.3, 0.2, 0.1], "known": False, "label": None}]
    return {"t": t, "true_weights": [0.01, 0.02, 0.03, -0.02, -0.01], "rows": rows}


def feed(producer, topics, round_):
    """One round of messages on every topic, good and bad; what it sent, per topic."""
    sent = {role: [] for role in ROLES}
    now = int(time.time() * 1000)

    def send(role, value, key=None):
        data = json.dumps(value).encode() if isinstance(value, dict) else value
        producer.send(topics[role], value=data, key=key.encode() if key else None)
        sent[role].append(value)

    for i in range(5 + round_):
        send("messages", {"time": now + i, "msg": "Hello, World!"})
    send("trendy", trendy_message(1.0 * round_))
    for i in range(3):
        send("tweets", {"text": f"tweet {round_}.{i}: hello there", "lang": "en"})
    if round_ == 1:  # four windows, then one of them again with a newer count
        for k, count in enumerate((3, 6, 4, 1)):
            send("windows", *reversed(window_record(BASE + 5000 * k, count)))
        send("windows", *reversed(window_record(BASE + 5000, 7)))
        send("windows", {"watermark": BASE + 6000, "dropped": 2, "batch": 3}, key="watermark")
        for batch in (1, 2, 3):
            send("model", model_record(batch))
    else:  # a new window, a newer count for an old one; two more model updates
        send("windows", *reversed(window_record(BASE + 20_000, 2)))
        send("windows", *reversed(window_record(BASE + 10_000, 5)))
        for batch in (4, 5):
            send("model", model_record(batch))
    for role, values in BAD.items():
        for value in values[round_ - 1::2]:  # half of them each round
            send(role, value, key="tombstone" if value is None else None)
    producer.flush()
    return sent


def test_the_dashboard_in_a_browser(browser, new_topic, produce):
    topics = {role: new_topic() for role in ROLES}
    inputs = [topics[r] for r in ("messages", "trendy", "tweets")]
    port, group = free_port(), f"dashboard-test-{uuid.uuid4().hex[:8]}"
    args = [a for role in ROLES for a in (f"--{role}-topic", topics[role])]
    producer = KafkaProducer(bootstrap_servers=KAFKA_SERVER)
    with running("--port", port, "--group", group, "--starting-offsets", "earliest", "--seconds", 300,
                 *args) as proc:
        url = wait_for("the dashboard's address", lambda: printed(proc, r"Dashboard: (http://localhost:\d+/)"))[1]
        assert url == f"http://localhost:{port}/"
        browser.get(url)
        empty = wait_for("the page", lambda: page_state(browser, inputs))
        # Before any data, each panel says what to start.
        hint = "start bash day2/windowed_sum/run.sh events (and the producer of test-topic)"
        assert empty["waiting"]["windows-waiting"] == f"waiting for {topics['windows']}: {hint}"
        assert empty["waiting"]["weights-waiting"].startswith(
            f"waiting for {topics['model']}: start bash day2/trendy_prices/run.sh structured")
        assert all(f"waiting for {t}: start bash" in empty["waiting"]["rate-waiting"] for t in inputs)
        browser.execute_script("window.__not_reloaded = true")  # gone if the page reloads

        sent = feed(producer, topics, 1)
        bad = sum(len(v[0::2]) for v in BAD.values())

        def has(state, n_windows, n_model, bad):
            return (state["points"]["windows"] == n_windows and state["points"]["model"] == n_model
                    and all(state["rate"][t] == len(sent_so_far[r])
                            for r, t in zip(("messages", "trendy", "tweets"), inputs, strict=True))
                    and f"malformed messages: {bad}<" in state["malformed"])

        sent_so_far = sent
        # Three model updates, and a gap before batch 1 (a new run of the learner): 4 points.
        first = wait_for("every panel to show round 1",
                         lambda: (s := page_state(browser, inputs)) and has(s, 4, 4, bad) and s)
        # The windows' counts are the newest the topic holds for each window (a patch, not a new bar).
        assert sorted(first["windows"]) == [[BASE, 3], [BASE + 5000, 7], [BASE + 10_000, 4],
                                            [BASE + 15_000, 1]]
        assert first["points"]["dropped"] == 1  # the late rows the job reported, marked
        assert not any(first["waiting"].values()), first["waiting"]

        more = feed(producer, topics, 2)
        sent_so_far = {role: sent[role] + more[role] for role in ROLES}
        bad_total = sum(len(v) for v in BAD.values())
        second = wait_for("every panel to grow",
                          lambda: (s := page_state(browser, inputs)) and has(s, 5, 6, bad_total) and s)
        assert second["not_reloaded"], "the page reloaded"
        for source in ("rate", "windows", "model"):
            assert second["points"][source] > first["points"][source], (source, first, second)
        assert sorted(second["windows"]) == [[BASE, 3], [BASE + 5000, 7], [BASE + 10_000, 5],
                                             [BASE + 15_000, 1], [BASE + 20_000, 2]]
        # Only the pages it serves may open its websocket, and it listens on 127.0.0.1 only.
        foreign = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        foreign.request("GET", "/ws", headers={
            "Origin": "http://example.com", "Connection": "Upgrade", "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert foreign.getresponse().status == 403
        if shutil.which("ss"):
            listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True)
            assert [line.split()[3] for line in listening.stdout.splitlines()] == [f"127.0.0.1:{port}"]
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        shot = ROOT / "day2/live_dashboard/output/test-dashboard.png"
        shot.parent.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:8] == PNG

        # The tab goes away while messages flow: Bokeh destroys its document (within
        # seconds), and the dashboard goes on without it.
        browser.get("about:blank")
        late = [{"time": int(time.time() * 1000), "msg": "after the tab"} for _ in range(20)]
        for value in late:
            producer.send(topics["messages"], json.dumps(value).encode())
            producer.flush()
            time.sleep(0.5)
        sent_so_far["messages"] = sent_so_far["messages"] + late
        wait_for("the dashboard to read them, still running", lambda: proc.poll() is None
                 and committed_offset(group, topics["messages"]) == len(sent_so_far["messages"]), timeout=60)
    producer.close()

    assert proc.returncode == 0, proc.output[-3000:]
    assert_clean_output(proc.output)
    result = final(proc.output)
    total = sum(len(v) for v in sent_so_far.values())
    assert result == {"messages": total, "malformed": bad_total, "pages": 1}, result
    reported = malformed_reported(proc.output)
    assert len(reported) == bad_total and {t for t, _, _ in reported} == set(topics.values())
    # The group committed what the page got: everything, on every topic.
    committed = {topics[role]: committed_offset(group, topics[role]) for role in ROLES}
    assert committed == {topics[role]: len(sent_so_far[role]) for role in ROLES}


def committed_offset(group, topic):
    reader = KafkaConsumer(bootstrap_servers=KAFKA_SERVER, group_id=group, enable_auto_commit=False)
    try:
        return reader.committed(TopicPartition(topic, 0))
    finally:
        reader.close()


def test_port_taken_is_one_line(kafka_server):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        proc = run_exercise(RUN, "--port", port, "--seconds", 5, check=False, timeout=60)
    assert proc.returncode == 1, proc.output
    errors = [line for line in proc.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.output, proc.output
    assert errors[0].startswith(f"error: port {port} (the dashboard) is already taken by "), errors[0]
    assert f"--port {port + 1}" in errors[0]
    if shutil.which("ss"):
        assert f"(pid {os.getpid()})" in errors[0], errors[0]  # by whom: this test


def test_solution_latest_windows(kafka_server, new_topic, produce):
    topic = new_topic()
    updates = [(BASE, 1), (BASE + 5000, 2), (BASE, 3), (BASE + 10_000, 1), (BASE + 5000, 4)]
    values = [window_record(start, count)[1] for start, count in updates]
    keys = [str(start) for start, _ in updates]
    produce(topic, [*values, {"watermark": BASE + 4000, "dropped": 0, "batch": 2}, "not a window"],
            keys=[*keys, "watermark", "oops"])
    proc = run_exercise(RUN, "solutions/latest_windows.py", "--topic", topic, "--max-messages", 7,
                        "--seconds", 60)
    assert_clean_output(proc.output)
    # One row per key, with the newest value: what a compacted topic would keep.
    newest = [[BASE, BASE + 10_000, 3], [BASE + 5000, BASE + 15_000, 4], [BASE + 10_000, BASE + 20_000, 1]]
    assert final(proc.output) == {"messages": 7, "malformed": 1, "windows": newest}
    assert malformed_reported(proc.output) == [(topic, 0, 6)]
    assert "7 messages, 3 windows: the newest count of each" in proc.stdout


def descendants(roots):
    """The processes started from these pids, and theirs (Spark's JVM, its Python workers)."""
    children, table = {}, subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    for line in table.splitlines():
        pid, ppid = map(int, line.split())
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def alive(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            return "\nState:\tZ" not in status.read()  # a zombie has exited
    except OSError:
        return False


@pytest.mark.slow
def test_the_demo_moves_every_panel_then_leaves_nothing_running(browser):
    port, group = free_port(), f"dashboard-demo-{uuid.uuid4().hex[:8]}"
    inputs = ["test-topic", "trendy-topic", "tweets"]
    with running("demo", "--port", port, "--group", group, "--starting-offsets", "latest",
                 "--seconds", 600) as proc:
        url = wait_for("the dashboard's address", lambda: printed(proc, r"Dashboard: (http://localhost:\d+/)"),
                       timeout=120)[1]
        jobs = [int(pid) for pid in re.findall(r"^  pid (\d+) ", "".join(proc.lines), re.MULTILINE)]
        assert len(jobs) == 5, proc.lines
        browser.get(url)
        opened = time.monotonic()

        def every_panel_moves():
            state = page_state(browser, inputs)
            return state and all(state["rate"][t] > 0 for t in inputs) and all(
                state["points"][source] > 0 for source in ("windows", "model")) and state

        wait_for("every panel to move (the Spark jobs start on a busy machine too)", every_panel_moves,
                 timeout=300)
        print(f"every panel moved {time.monotonic() - opened:.0f} s after the page was opened")
        time.sleep(10)  # a few more points, for the picture
        shot = ROOT / "day2/live_dashboard/output/dashboard.png"
        shot.parent.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:8] == PNG
        started = descendants(jobs)  # the producers, the Spark drivers, their JVMs and workers
        assert len(started) > len(jobs)
    assert proc.returncode == 0, proc.output[-3000:]
    assert "[demo] stopped: simple_producer windowed_sum trendy_producer trendy_learner tweets" in proc.output
    left = sorted(pid for pid in started if alive(pid))
    assert not left, subprocess.run(["ps", "-o", "pid,args", "-p", ",".join(map(str, left))],
                                    capture_output=True, text=True).stdout
    for log in ("simple_producer", "trendy_producer", "tweets"):  # each producer flushed and said so
        text = (ROOT / f"day2/live_dashboard/output/demo-{log}.log").read_text()
        assert final(text)["failed"] == 0, text[-2000:]
