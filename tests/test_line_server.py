"""day1/simple_sparkstream's line server, the stand-in for `nc -lk 9999`: what you type
reaches the program connected to it, a connection that only checks the port gets
nothing, and a taken port is one clear line. (Spark's netcat part fed by it: the
netcat transcript in the README, tests/test_transcripts.py.)"""

import os
import signal
import socket
import subprocess
import time

from conftest import ROOT

SCRIPT = "day1/simple_sparkstream/run.sh"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(port, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on {port}"
            time.sleep(0.1)


def read_lines(conn, n):
    data = b""
    while data.count(b"\n") < n:
        chunk = conn.recv(4096)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data.decode().splitlines()


def test_typed_lines_reach_the_reader_not_the_port_check():
    port = free_port()
    server = subprocess.Popen(["bash", SCRIPT, "line-server", "--port", str(port)], cwd=ROOT,
                              stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        connect(port).close()  # what netcat_wordcount.py does first: is the port open?
        server.stdin.write("typed before anybody reads\n")
        server.stdin.flush()
        time.sleep(1)
        reader = connect(port)  # Spark's receiver: connects and reads
        assert read_lines(reader, 1) == ["typed before anybody reads"]
        server.stdin.write("to be or not to be\nthat is the question\n")
        server.stdin.flush()
        assert read_lines(reader, 2) == ["to be or not to be", "that is the question"]
        server.stdin.close()  # the end of the input: it goes on serving until Ctrl-C
        time.sleep(0.5)
        assert server.poll() is None
        os.killpg(server.pid, signal.SIGINT)
        assert server.wait(timeout=10) == 0
        reader.close()
    finally:
        if server.poll() is None:
            server.kill()
    log = server.stderr.read()
    assert log.startswith(f"Listening on localhost:{port}: type lines"), log
    assert log.count("connected: ") == 1, log  # the reader, not the port check
    assert "Traceback" not in log and log.rstrip().endswith("Ctrl-C: stopped."), log


def test_a_taken_port_is_one_line():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = subprocess.run(["bash", SCRIPT, "line-server", "--port", str(port)], cwd=ROOT,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: cannot listen on port {port} ("), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
