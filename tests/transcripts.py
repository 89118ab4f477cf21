"""The READMEs' "What you should see" blocks are the output of real runs: this script
runs each block's command again and rewrites the block (or, with --check, compares).

    .venv/bin/python tests/transcripts.py                    # regenerate every block
    .venv/bin/python tests/transcripts.py day2/windowed_sum  # the blocks of one README
    .venv/bin/python tests/transcripts.py --check            # compare, rewrite nothing
    .venv/bin/python tests/transcripts.py --list             # the blocks and their checks

A block is a fenced code block right after a marker comment:

    <!-- transcript: check=exact keep=1..3,-3.. -->
    ```
    $ bash day1/simple_producer/run.sh --topic first-steps --count 5 > /dev/null
    $ bash day1/simple_consumer/run.sh --topics first-steps --seconds 5
    Consuming ['first-steps'] ...
    ```

Its `$` lines are what a student types, in order, and what this script runs (from the
repository's top folder, with bash). The last one before the output is the command
whose output the block shows; the ones before it prepare its input and print nothing
(`> /dev/null`); one that ends with `&` runs in the background (a producer feeding a
live run) until the command is done; `$` lines after the output clean up (their
output is not shown). A `^C` line in the block is where Ctrl-C was pressed.

Names are made fresh for each run, and shown as the README writes them: every topic
named by `--topic`/`--topics` (or `--output-topic`, `--model-topic`, ...) gets a suffix
(`first-steps` -> `first-steps-1a2b3c4d`, so the topic is new and its offsets start at
0), every `/tmp/NAME` path is a new
temporary folder, every port named in `free-port=` is a free one. The blocks of one
README run in order with the same names, so a block can use what an earlier one made
(a checkpoint, a topic, a model).

Marker settings:
    check=exact    the same lines, after masking what is volatile (clock times, epoch
                   milliseconds, durations, the Spark UI's and the bridge's ports,
                   temporary folders, pids), and the same FINAL line
    check=final    the same FINAL line (masked); the lines may differ (batching)
    check=shape    the same lines once every number is masked too, the same FINAL keys
    check=keys     the same FINAL keys (and the values of the keys named by same=),
                   for a run whose output depends on chance or timing; a live one (a
                   producer in the background, or Ctrl-C) tests/test_transcripts.py
                   does not run: this script checks it when it regenerates it
    same=K1,K2     with check=keys or shape: these FINAL values must be equal too
    keep=RANGES    which output lines the block shows, e.g. 1..4,-3.. (lines 1 to 4, the
                   last 3) or "1..4,/^FINAL/-2.." (and from 2 lines before FINAL); "..."
                   marks what is left out; default: all
    times=fixed    clock times and epoch milliseconds are part of the input (not masked)
    ctrl-c=S       press Ctrl-C S seconds after the command started; ctrl-c=/REGEX/+S: S
                   seconds after the first line REGEX matches (the first batch, say)
    free-port=P    run with a free port instead of P (shown as P)
    mask=REGEX     what else varies from run to run in this block (masked when compared)
    unordered=REGEX  lines another thread prints (a StreamingQueryListener's), whose
                   place among the others varies: compared apart, in any order
    timeout=S      give up after S seconds (default 300)

Lines that come and go with the machine's load (Spark's WARN lines) are left out, and
named when a regeneration leaves one out. Durations are real: regenerate on an idle
machine (it says so when the load is higher than the number of cores). advanced/'s
blocks start Kafka and Spark clusters on fixed ports and run for minutes: without a
folder this script regenerates them too, so run it when no cluster test runs.
"""

import argparse
import difflib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READMES = sorted(p for folder in ("day1", "day2", "advanced") for pattern in ("*/README.md", "*/*/README.md")
                 for p in ROOT.glob(f"{folder}/{pattern}"))
MARKER = re.compile(r"^<!-- transcript:(.*?)-->\s*$")
CHECKS = ("exact", "final", "shape", "keys")
SUMMARY = re.compile(r"^(FINAL|RESULT) (\{.*)$")  # the machine-readable last line of a run

# What changes from run to run, masked before two transcripts are compared.
VOLATILE = [
    (re.compile(r"http://localhost:\d+"), "http://localhost:<port>"),  # the Spark UI's port
    (re.compile(r"\b(port|pid|python|java) \d+"), r"\1 <n>"),
    (re.compile(r"/tmp/[\w.-]+"), "/tmp/<tmp>"),
    (re.compile(r"\[ *\d+(\.\d+)? s\]"), "[<t> s]"),  # elapsed-time prefixes
    (re.compile(r"\b\d+(\.\d+)? s\b"), "<d> s"),  # durations
    (re.compile(r"\b\d+(\.\d+)?%"), "<p>%"),
    # whether a DStream kept up depends on the machine's load as much as on the job
    (re.compile(r"\((keeps up: <|falls behind: >) "), "(<keeps up or falls behind> "),
]
CLOCK = [
    (re.compile(r"\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?"), "<date time>"),
    (re.compile(r"\b\d\d:\d\d:\d\d\b"), "<hh:mm:ss>"),
    (re.compile(r"\b1\d{12}\b"), "<epoch ms>"),
    (re.compile(r"\b\d{6}-\d{4}\b"), "<time-id>"),
]
NUMBER = (re.compile(r"-?\b\d+(\.\d+)?(e-?\d+)?\b"), "<n>")
# Lines that come and go with the machine's load or libraries, whatever the input
# (Spark's WARN lines, a missing native BLAS): left out of the transcripts (the
# regeneration names each one it leaves out).
INCIDENTAL = re.compile(r"\bWARN\b|^netlib-blas: ")


@dataclass
class Block:
    readme: Path
    start: int  # index of the opening fence in the README's lines
    end: int  # index of the closing fence
    settings: dict
    commands: list
    shown: list  # the output lines the README shows (with "..." where it leaves some out)
    after: list = field(default_factory=list)  # $ lines after the output: what cleans up

    @property
    def check(self):
        return self.settings.get("check", "exact")

    @property
    def live(self):
        """Fed by a producer in the background, or stopped by Ctrl-C: its batches
        depend on timing, and it takes a while."""
        return "ctrl-c" in self.settings or any(c.rstrip().endswith("&") for c in self.commands)

    @property
    def name(self):
        return f"{self.readme.relative_to(ROOT)}:{self.start + 1}"


def parse(readme):
    """The transcript blocks of a README, in order."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        settings = dict(word.split("=", 1) if "=" in word else (word, "yes")
                        for word in shlex.split(m[1]))
        assert settings.get("check", "exact") in CHECKS, f"{readme}:{i + 1}: check= is one of {CHECKS}"
        start = i + 1
        assert lines[start].startswith("```"), f"{readme}:{i + 1}: a code block must follow the marker"
        end = next(j for j in range(start + 1, len(lines)) if lines[j].startswith("```"))
        body = lines[start + 1:end]
        first = next((j for j, b in enumerate(body) if not b.startswith("$ ")), len(body))
        last = next((j for j in range(len(body), first, -1) if not body[j - 1].startswith("$ ")), first)
        commands, after = [b[2:] for b in body[:first]], [b[2:] for b in body[last:]]
        assert commands, f"{readme}:{start + 1}: a block starts with its $ lines"
        assert not any(b.startswith("$ ") for b in body[first:last]), \
            f"{readme}:{start + 1}: $ lines go before the output (and after it, to clean up)"
        blocks.append(Block(readme, start, end, settings, commands, body[first:last], after))
    return blocks


@dataclass
class Names:
    """Fresh names for one README's runs, and the way back to the README's names."""
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    tmp: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="transcripts-"))
    topics: set = field(default_factory=set)
    ports: dict = field(default_factory=dict)

    def fresh(self, command, settings):
        for value in re.findall(r"--(?:[a-z]+-)*topics?[ =](\S+)", command):
            self.topics.update(value.split(","))
        for port in filter(None, settings.get("free-port", "").split(",")):
            if port not in self.ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
                    self.ports[port] = str(s.getsockname()[1])
        for topic in sorted(self.topics, key=len, reverse=True):
            command = re.sub(rf"(?<![\w.-]){re.escape(topic)}(?![\w.-])", f"{topic}-{self.suffix}", command)
        command = re.sub(r"(?<![\w.])/tmp/", f"{self.tmp}/", command)
        for port, free in self.ports.items():
            command = re.sub(rf"\b{port}\b", free, command)
        return command

    def close(self):
        """Delete what this README's runs made: their topics, their temporary folders."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        for checkpoint in ROOT.glob(f"*/*/checkpoints/*-{self.suffix}*"):  # a Kafka sink's, per topic
            shutil.rmtree(checkpoint, ignore_errors=True)
        if not self.topics:
            return
        from kafka import KafkaAdminClient

        try:
            admin = KafkaAdminClient(bootstrap_servers=os.environ.get("KAFKA_SERVER", "localhost:9092"))
            # and what a job derived from their names (late-events-1a2b3c4d-windows)
            made = {t for t in admin.list_topics() if f"-{self.suffix}" in t}
            if made:
                admin.delete_topics(sorted(made))
            admin.close()
        except Exception as exc:  # a topic left behind is no reason to fail
            print(f"note: could not delete the runs' topics ({exc!r})", file=sys.stderr)

    def back(self, text):
        text = text.replace(f"-{self.suffix}", "").replace(f"{self.tmp}/", "/tmp/")
        text = text.replace(f"{ROOT}/", "").replace(str(ROOT), ".")
        for port, free in self.ports.items():
            text = re.sub(rf"\b{free}\b", port, text)
        # Spark takes the next free port for its UI when 4040 is taken: a student's first is 4040
        return re.sub(r"http://localhost:40\d\d\b", "http://localhost:4040", text)


def run_block(block, names, env=None, log=None):
    """Run a block's $ lines as a student would; the output lines of its command, with
    the README's names (and `^C` where Ctrl-C was pressed)."""
    env = {**os.environ, **(env or {})}
    env.pop("SPARK_UI", None)  # a student's run: the Spark UI is on, its address printed
    background = []
    try:
        for command in block.commands[:-1]:
            command = names.fresh(command, block.settings)
            if command.rstrip().endswith("&"):
                background.append(subprocess.Popen(
                    ["bash", "-c", command.rstrip()[:-1]], cwd=ROOT, env=env, start_new_session=True,
                    stdin=subprocess.DEVNULL))
                time.sleep(2)  # as a student would, before the next command
            else:
                prep = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                      capture_output=True, text=True, timeout=300)
                if prep.returncode != 0:
                    raise RuntimeError(f"{command!r} exited {prep.returncode}:\n{prep.stderr[-3000:]}")
                printed = names.back(prep.stdout + prep.stderr)
                if printed.strip() and log:  # the block shows it as silent
                    log.write(f"note: `{names.back(command)}` printed:\n{printed}")
        command = names.fresh(block.commands[-1], block.settings)
        output = _run(command, env, block.settings.get("ctrl-c"), float(block.settings.get("timeout", 300)),
                      log)
    finally:
        for command in block.after:  # what the student types next, to clean up
            subprocess.run(["bash", "-c", names.fresh(command, block.settings)], cwd=ROOT, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        for job in background:  # like Ctrl-C in its terminal: a producer flushes and exits
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGINT)
        for job in background:
            try:
                job.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(job.pid, signal.SIGKILL)
    return names.back(output).splitlines()


def _run(command, env, ctrl_c, timeout, log):
    """Run one command in its own process group, stdout and stderr into one pipe in the
    order they were written (as a terminal shows them). ctrl_c: None, "S" (press Ctrl-C S
    seconds after the start) or "/REGEX/+S" (S seconds after the first line it matches)."""
    m = re.fullmatch(r"(?:/(.*)/\+)?(\d+(?:\.\d+)?)", ctrl_c or "0")
    if not m:
        raise ValueError(f"ctrl-c={ctrl_c}: S or /REGEX/+S")
    after, ctrl_c_after = (re.compile(m[1], re.MULTILINE) if m[1] else None), float(m[2])
    proc = subprocess.Popen(["bash", "-c", command], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    chunks, start = [], time.monotonic()
    begin = start

    def read():
        while data := os.read(proc.stdout.fileno(), 65536):
            chunks.append(data)
            if log:
                log.write(data.decode(errors="replace"))
                log.flush()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    pressed = False
    while proc.poll() is None:
        if after and after.search(b"".join(chunks).decode(errors="replace")):
            start, after = time.monotonic(), None  # count from the line it waited for
        elapsed = time.monotonic() - start
        if ctrl_c_after and not pressed and not after and elapsed >= ctrl_c_after:
            chunks.append(b"^C")  # the terminal's echo; the script's own line starts with \n
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C goes to the foreground process group
            pressed = True
        if time.monotonic() - begin > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise TimeoutError(f"{command!r} ran longer than {timeout:g} s")
        time.sleep(0.1)
    reader.join(10)
    if proc.returncode not in (0, 130) and not pressed:
        text = b"".join(chunks).decode(errors="replace")
        raise RuntimeError(f"{command!r} exited {proc.returncode}:\n{text[-3000:]}")
    return b"".join(chunks).decode(errors="replace")


def select(lines, keep):
    """The lines a block shows. keep is a comma-separated list of A..B (lines A to B),
    A.. (line A to the end) and A (that line); a line is N (counting from 1), -N
    (counting from the end: -1 is the last) or /REGEX/ (the first line it matches),
    optionally followed by +N or -N. A "..." line stands for each run of lines left
    out. Without keep: every line."""
    if not keep:
        return list(lines)
    n, wanted = len(lines), set()

    def line(end):
        m = re.fullmatch(r"(-?\d+)|/(.*)/([+-]\d+)?", end)
        if not m:
            raise ValueError(f"keep={keep}: {end!r} is not N, -N or /REGEX/")
        if m[1]:
            return int(m[1]) - 1 if int(m[1]) > 0 else n + int(m[1])
        found = next((i for i, x in enumerate(lines) if re.search(m[2], x)), None)
        return None if found is None else found + int(m[3] or 0)

    for part in keep.split(","):
        first, dots, last = part.partition("..")
        lo = line(first)
        hi = (line(last) if last else n - 1) if dots else lo
        if lo is not None and hi is not None:
            wanted.update(range(max(lo, 0), min(hi, n - 1) + 1))
    shown, previous = [], -1
    for i in sorted(wanted):
        if i > previous + 1:
            shown.append("...")
        shown.append(lines[i])
        previous = i
    if previous < n - 1:
        shown.append("...")
    return shown


def summary(lines):
    """The FINAL (or RESULT) line's keys and values, or None."""
    for line in lines:
        if m := SUMMARY.match(line):
            try:
                return json.loads(m[2])
            except json.JSONDecodeError:  # shortened with "..." in a README
                return _keys_only(m[2])
    return None


def _keys_only(text):
    """The top-level keys of a JSON object cut short with "..." (a README's way), with
    their values where those are plain numbers, strings, true, false or null."""
    found, depth = {}, 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[{}\[\]]', text):
        token = m[0]
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
        elif depth == 1 and text[m.end():m.end() + 2] == ": ":
            value = re.match(r'-?\d[\d.e+-]*|"(?:[^"\\]|\\.)*"|true|false|null', text[m.end() + 2:])
            found[json.loads(token)] = json.loads(value[0]) if value else ...
    return found


def mask(line, settings, numbers=False):
    for pattern, repl in VOLATILE + ([] if settings.get("times") == "fixed" else CLOCK):
        line = pattern.sub(repl, line)
    if "mask" in settings:  # what else varies in this block
        line = re.sub(settings["mask"], "<masked>", line)
    if numbers:  # and the spaces that align them (numpy's arrays)
        line = re.sub(r" *([\[\]]) *", r"\1", re.sub(r" +", " ", NUMBER[0].sub(NUMBER[1], line)))
    return line.rstrip()


def compare(block, lines):
    """What differs between a block and a run's output lines (already selected with the
    block's keep=): a list of readable differences, empty when they agree."""
    problems, settings = [], block.settings
    theirs, ours = summary(block.shown), summary(lines)
    if theirs is None or ours is None:
        if (theirs is None) != (ours is None):
            problems.append(f"FINAL line: README {'has none' if theirs is None else 'has one'}, "
                            f"the run {'has none' if ours is None else 'has one'}")
    elif list(theirs) != list(ours):
        problems.append(f"FINAL keys: README {list(theirs)}, the run {list(ours)}")
    else:
        for key in filter(None, settings.get("same", "").split(",")):
            if theirs.get(key) != ours.get(key):
                problems.append(f"FINAL {key}: README {theirs.get(key)!r}, the run {ours.get(key)!r}")
    if block.check in ("exact", "final"):
        readme_final, run_final = ([mask(x, settings) for x in s if SUMMARY.match(x)][:1]
                                   for s in (block.shown, lines))
        if readme_final != run_final:
            problems.append(f"FINAL line:\n  README  {readme_final}\n  the run {run_final}")
    if block.check in ("exact", "shape"):
        numbers = block.check == "shape"
        a = [mask(x, settings, numbers) for x in block.shown if not INCIDENTAL.search(x)]
        b = [mask(x, settings, numbers) for x in lines if not INCIDENTAL.search(x)]
        if "unordered" in settings:  # printed by another thread: in its own order only
            loose = re.compile(settings["unordered"])
            (a, a_loose), (b, b_loose) = ([[x for x in s if not loose.search(x)],
                                           sorted(x for x in s if loose.search(x))] for s in (a, b))
            if a_loose != b_loose:
                diff = difflib.unified_diff(a_loose, b_loose, "README", "the run", lineterm="", n=0)
                problems.append("unordered lines (masked, sorted) differ:\n" + "\n".join(diff))
        if a != b:
            diff = difflib.unified_diff(a, b, "README", "the run", lineterm="", n=1)
            problems.append("lines (masked) differ:\n" + "\n".join(diff))
    return problems


def shorten_summary(line, limit=12):
    """A FINAL line stays one readable line: long lists and objects show their first
    items and "..." (the README's way; the keys stay)."""
    m = SUMMARY.match(line)
    if not m or len(line) <= 200:
        return line
    try:
        data = json.loads(m[2])
    except json.JSONDecodeError:
        return line

    def render(value, depth=0):
        if isinstance(value, dict):
            items = [f"{json.dumps(k, ensure_ascii=False)}: {render(v, depth + 1)}" for k, v in value.items()]
            cut = depth > 0 and len(items) > limit
            return "{" + ", ".join(items[:4] if cut else items) + (", ...}" if cut else "}")
        if isinstance(value, list) and len(value) > 4 and depth > 0:
            return "[" + ", ".join(render(v, depth + 1) for v in value[:2]) + ", ...]"
        return json.dumps(value, ensure_ascii=False)

    return f"{m[1]} {render(data)}"


def regenerate(block, index, lines):
    """The README's lines with its index-th block rewritten from a run's output (the
    README as it is now: it may have been edited while the block ran)."""
    text = block.readme.read_text(encoding="utf-8").splitlines()
    now = parse(block.readme)[index]
    body = [f"$ {c}" for c in now.commands] + lines + [f"$ {c}" for c in now.after]
    return text[:now.start + 1] + body + text[now.end:]


def shown_lines(block, output):
    """What a block shows of a run's output: no incidental line, the lines keep= names,
    the FINAL line shortened."""
    output = [x for x in output if not INCIDENTAL.search(x)]
    return [shorten_summary(x) for x in select(output, block.settings.get("keep"))]


def exercise(readme):
    """day2/windowed_sum, for its README.md and for its solutions/README.md."""
    folder = readme.parent.parent if readme.parent.name == "solutions" else readme.parent
    return str(folder.relative_to(ROOT))


def checked_blocks(readme):
    """The blocks tests/test_transcripts*.py run: all but the live ones (a producer in
    the background feeding a run of a minute, or Ctrl-C), which this script checks
    loosely when it regenerates them. advanced/'s blocks start clusters on fixed ports
    and kill processes on purpose: their own tests run those scenarios."""
    if exercise(readme).startswith("advanced/"):
        return []
    return [b for b in parse(readme) if not (b.check == "keys" and b.live)]


def check(readme, on_output=None):
    """Run a README's tested blocks in order (a later block may use what an earlier
    one made), each as its $ lines say; what differs from the README, per block."""
    names, problems = Names(), []
    try:
        for block in checked_blocks(readme):
            output = run_block(block, names)
            if on_output:
                on_output("\n".join(output))
            if found := compare(block, shown_lines(block, output)):
                problems.append(f"{block.name} $ {block.commands[-1]}\n" + "\n".join(found))
    finally:
        names.close()
    return problems


class Notes:
    """Where run_block() writes: only its notes, not a run's output."""

    def write(self, text):
        if text.startswith("note: "):
            print(text.rstrip(), flush=True)

    def flush(self):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", help="exercise folders (default: all)")
    parser.add_argument("--check", action="store_true", help="compare only, rewrite nothing")
    parser.add_argument("--list", action="store_true", help="list the blocks and exit")
    parser.add_argument("--verbose", action="store_true", help="show each run's output as it comes")
    args = parser.parse_args()
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > cores and not args.check and not args.list:
        print(f"note: the machine is busy (load {load:.1f} on {cores} cores): the durations the "
              "transcripts show will be long; regenerate on an idle machine", flush=True)
    wanted = [(ROOT / f).resolve() for f in args.folders]
    readmes = [r for r in READMES if not wanted or any(w in (r.parent, r.parent.parent) for w in wanted)]
    failed = 0
    for readme in readmes:
        blocks, names = parse(readme), Names()
        try:
            for n, block in enumerate(blocks):
                if args.list:
                    print(f"{block.name:44} {block.check:6} $ {block.commands[-1]}")
                    continue
                block = parse(readme)[n]  # the README's lines move as blocks are rewritten
                print(f"--- {block.name} ({block.check}): $ {block.commands[-1]}", flush=True)
                try:
                    output = run_block(block, names, log=sys.stdout if args.verbose else Notes())
                except (RuntimeError, TimeoutError, subprocess.SubprocessError) as exc:
                    print(f"FAILED: {exc}", flush=True)
                    failed += 1
                    continue
                for line in filter(INCIDENTAL.search, output):
                    print(f"note: left out an incidental line (a busy machine?): {line}")
                lines = shown_lines(block, output)
                problems = compare(block, lines)
                if problems:
                    print("\n".join(problems), flush=True)
                if args.check:
                    failed += bool(problems)
                else:
                    readme.write_text("\n".join(regenerate(block, n, lines)) + "\n", encoding="utf-8")
                    print(f"rewrote {block.name}" + (" (it changed)" if problems else ""), flush=True)
        finally:
            names.close()
    if failed:
        sys.exit(f"{failed} block(s) differ or failed")


if __name__ == "__main__":
    main()
