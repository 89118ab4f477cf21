"""The course's stand-in for `nc -lk 9999`: listen on a port and send every line you
type to the programs connected to it (the netcat part's receiver), for machines
without netcat.

Usage: bash day1/simple_sparkstream/run.sh line-server [--port PORT]

Type lines, Enter sends each one. Lines typed while nobody is connected wait for the
first program that connects; a connection that closes at once (a program checking
that the port is open) gets none. Reading from a pipe or a file works too:
    printf 'to be\\nor not to be\\n' | bash day1/simple_sparkstream/run.sh line-server
At the end of the input it goes on serving the connections it has. Ctrl-C stops it.
"""

import argparse
import socket
import sys
import threading

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=9999, help="the port to listen on (default 9999)")
args = parser.parse_args()

try:
    server = socket.create_server(("127.0.0.1", args.port))  # this machine only
except OSError as exc:
    sys.exit(f"error: cannot listen on port {args.port} ({exc.strerror}). Fix: stop what "
             f"holds it, or choose another: --port 9998 (and netcat --socket localhost:9998)")
clients, waiting, lock = [], [], threading.Lock()


def accept():
    while True:
        conn, (host, port) = server.accept()
        conn.settimeout(0.5)
        try:
            if conn.recv(1) == b"":  # closed at once: a check that the port is open
                conn.close()
                continue
        except TimeoutError:  # still connected: a reader (Spark's receiver sends nothing)
            pass
        with lock:
            conn.sendall(b"".join(waiting))
            waiting.clear()
            clients.append(conn)
        print(f"connected: {host}:{port}", file=sys.stderr, flush=True)


threading.Thread(target=accept, daemon=True).start()
print(f"Listening on localhost:{args.port}: type lines, each goes to the connected programs "
      "(Ctrl-C stops)", file=sys.stderr, flush=True)
try:
    for line in sys.stdin:
        with lock:
            if not clients:
                waiting.append(line.encode())
            for conn in list(clients):
                try:
                    conn.sendall(line.encode())
                except OSError:  # that program has gone
                    clients.remove(conn)
    threading.Event().wait()  # end of input: keep the connections open until Ctrl-C
except KeyboardInterrupt:
    print("\nCtrl-C: stopped.", file=sys.stderr)
