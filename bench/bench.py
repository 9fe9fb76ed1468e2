#!/usr/bin/env python3
"""Benchmark log_monitor.py against the figures of issue 13. Prints figures; asserts nothing.

    python3 bench/bench.py                        # everything, about 6 minutes
    python3 bench/bench.py --quick                # fewer repetitions, shorter live runs
    python3 bench/bench.py --only flood --only gz # some parts (--only is repeatable)
    python3 bench/bench.py --log FILE             # replay FILE in parts 4, 5 and 7

Parts, in the order they run; NAME is what --only takes:
   1 flood       1,000,000 matching lines from 1,000,000 distinct clients (a quarter
                 IPv6) with 203.0.113.66's 10 requests hidden in them, --replay:
                 lines/s, peak RSS, whether 203.0.113.66 was caught
   2 live-flood  the same shape appended at 200,000 lines/s for 10 s (5 s with
                 --quick) to a file the daemon follows (--dry-run --interval 1),
                 log times = the wall clock at the write; SIGUSR1 every second:
                 the worst "log time Ns behind" of the status lines, the
                 worst lag seen from outside (the daemon's read offset in /proc
                 against the write times) and how long SIGUSR1 waited for an answer
   3 heavy       one client's 600,000 matching lines (10,000 a second), --replay: lines/s
   4 replay      a 5,000,000-line mixed log, --replay against `grep -c today_download
                 FILE | cat`, and the floor any replay in Python pays
   5 fail2ban    a 1,000,000-line mixed log, --replay against fail2ban-regex with the
                 equivalent filter (when it is installed)
   6 gz          a 1,000,000-line mixed log as 8 rotated .gz files, --replay against
                 `zcat FILES | grep -c today_download`
   7 live        daemon CPU while a writer appends a mixed log at 100,000 lines/s
   8 latency     from the write of the threshold-reaching line to the alert's datagram
   9 idle        daemon CPU following a file nobody writes
  10 startup     log_monitor.py --help and a 1,000-line replay (no target: for
                 comparing runs)

Output: one header line (host, CPU, cores, Python with its bare start-up, date,
the replay variants); then per part a line "N. what was measured" and indented
lines, one figure each. A figure that has a target ends with

    (target: at least 400,000 lines/s; measured/target 1.21: met)

the ratio being the figure of this same run over the target; "met" or "missed"
follows from it. When `log_monitor.py --help` lists --jobs, every replay is timed
with the default and with --jobs 1, each line labelled with its variant. A part
that cannot measure (log_monitor.py failed, say) prints "N. NAME: not measured:
why" and the next part runs.

Inputs come from bench/gen_log.py (mixed logs with seed 1), written into a
temporary directory and deleted; nothing is written into the repository. Timings
are the median of several runs (min, max in brackets); CPU time is the child's
own (wait4, or /proc while it runs); peak RSS is VmHWM that log_monitor.py's
process reads at its exit (with --jobs, the main process only).
"""

import argparse
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import gen_log

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPT = os.path.join(ROOT, "log_monitor.py")
TARGET = gen_log.TARGET
OFFENDER = gen_log.FLOOD_OFFENDER
PARTS = ["flood", "live-flood", "heavy", "replay", "fail2ban", "gz", "live", "latency", "idle", "startup"]
# the status line's reading: "behind N bytes unread, log time Ms behind" (or "unknown"), or "idle Ns"
STATUS = re.compile(
    r"lines read (\d+),.*; (?:behind \d+ bytes unread, log time (?:(\d+)s|unknown) behind|(idle))"
)


# Peak RSS is VmHWM read by the process itself at exit: a child's ru_maxrss also
# counts the pages it shared with this (larger) process before exec.
PEAK_RSS = """import atexit, runpy, sys
report_to, path, sys.argv = sys.argv[1], sys.argv[2], sys.argv[2:]
def report():
    with open("/proc/self/status") as f, open(report_to, "w") as out:
        out.write([l.split()[1] for l in f if l.startswith("VmHWM")][0])
atexit.register(report)
runpy.run_path(path, run_name="__main__")
"""


# ---------------------------------------------------------------- measuring
def monitor_argv(directory, *args):
    """argv running log_monitor.py with args; its peak RSS lands in a file (peak_rss_mb)."""
    return [sys.executable, "-c", PEAK_RSS, os.path.join(directory, "peak-rss"), SCRIPT] + list(args)


def peak_rss_mb(directory):
    """Peak RSS in MB that the last monitor_argv process wrote at its exit; None if it wrote none."""
    try:
        with open(os.path.join(directory, "peak-rss")) as f:
            return int(f.read()) / 1024
    except (OSError, ValueError):
        return None
    finally:
        try:
            os.unlink(os.path.join(directory, "peak-rss"))
        except OSError:
            pass


class PartFailed(Exception):
    """A part cannot give its figures (log_monitor.py failed, say); the other parts still run."""


def run_measured(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
    """Run argv to the end; (wall seconds, cpu seconds, exit status)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def median_of(n, measure):
    """(median, min, max) of n calls of measure()."""
    values = [measure() for _ in range(n)]
    return statistics.median(values), min(values), max(values)


def against(value, target, kind, unit=""):
    """'(target: at most 4x; measured/target 0.81: met)': a figure of this run against its target.

    kind is 'at least', 'at most' or 'under'.
    """
    ratio = value / target
    met = ratio >= 1 if kind == "at least" else ratio <= 1 if kind == "at most" else ratio < 1
    return "(target: %s %s%s; measured/target %.2f: %s)" % (
        kind,
        "{:,}".format(target) if isinstance(target, int) else "%g" % target,
        unit,
        ratio,
        "met" if met else "missed",
    )


def replay_variants():
    """[(label, extra argv)]: the default, and --jobs 1 when log_monitor.py --help lists --jobs."""
    done = subprocess.run([sys.executable, SCRIPT, "--help"], capture_output=True, text=True, timeout=60)
    variants = [("default", [])]
    if "--jobs" in done.stdout:
        variants.append(("--jobs 1", ["--jobs", "1"]))
    return variants


def time_replays(directory, files, runs, extra=()):
    """Replay files runs times: ((median, min, max) wall s, peak RSS MB or None, stdout of the last run).

    The runs go through the peak-RSS wrapper; if log_monitor.py fails under it
    (a start method that re-imports __main__, say), they run it directly and
    the RSS is None. Raises PartFailed if the replay fails anyway.
    """
    out, err = os.path.join(directory, "replay.out"), os.path.join(directory, "replay.err")
    direct = [sys.executable, SCRIPT, "--replay"] + list(files) + list(extra)
    walls, peaks, wrapped = [], [], True
    for _ in range(runs):
        for argv in ([monitor_argv(directory, *direct[2:])] if wrapped else []) + [direct]:
            with open(out, "w") as f, open(err, "w") as e:
                wall, _, status = run_measured(argv, stdout=f, stderr=e)
            if status == 0:
                break
            if wrapped:
                peak_rss_mb(directory)  # drop what the failed run left
            wrapped = False
        if status != 0:
            with open(err) as e:
                last = (e.read().strip().splitlines() or [""])[-1]
            raise PartFailed("log_monitor.py --replay exited with %d: %s" % (status, last))
        walls.append(wall)
        peaks.append(peak_rss_mb(directory) if wrapped else None)
    with open(out) as f:
        text = f.read()
    os.unlink(out)
    os.unlink(err)
    return ((statistics.median(walls), min(walls), max(walls)), None if None in peaks else max(peaks), text)


def rss_text(peak):
    """'12.3 MB', or 'n/a' when the peak RSS is unknown."""
    return "n/a" if peak is None else "%.1f MB" % peak


def count_lines(path):
    """Newlines in a plain file, read in 16 MiB chunks (this also warms the page cache)."""
    lines = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            lines += chunk.count(b"\n")
    return lines


def timed_pipeline(argvs):
    """Run argvs as a pipeline (no shell), the last one's stdout to a pipe; wall seconds."""
    started = time.perf_counter()
    procs, stdin = [], None
    for argv in argvs:
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if stdin is not None:
            stdin.close()  # the next stage owns it now: the writer sees EPIPE if it dies
        stdin = proc.stdout
        procs.append(proc)
    procs[-1].communicate()
    for proc in procs[:-1]:
        proc.wait()
    return time.perf_counter() - started


def write_flood(path, n=1000000):
    """The flood shape of gen_log.py (n clients and 203.0.113.66's 10 requests) into path."""
    return gen_log.write_flood(path, n)


# ---------------------------------------------------------------- following daemons
def start_daemon(directory, log, *extra, sock=None, stdout=subprocess.DEVNULL):
    """log_monitor.py following log (through the peak-RSS wrapper), once it follows the file.

    Alerts go to sock, or with --dry-run to stdout. A thread collects stderr as
    (perf_counter, line) in proc.stderr_lines, so the daemon never blocks on it.
    """
    argv = monitor_argv(directory, "--log-file", log, *extra)
    argv += ["--syslog-socket", sock.path] if sock else ["--dry-run"]
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, text=True)
    proc.stderr_lines = []
    following = threading.Event()

    def collect():
        for line in proc.stderr:
            proc.stderr_lines.append((time.perf_counter(), line))
            if "Following" in line:
                following.set()

    proc.stderr_reader = threading.Thread(target=collect, daemon=True)
    proc.stderr_reader.start()
    if not following.wait(60):
        proc.kill()
        proc.wait()
        raise PartFailed(
            "the daemon did not start following %s: %s"
            % (log, "".join(line for _, line in proc.stderr_lines[-3:]).strip())
        )
    return proc


def proc_cpu(pid):
    """CPU seconds (user + system) a running process has used, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_daemon(proc, directory):
    """SIGTERM, then (cpu seconds, peak RSS MB) of the daemon."""
    proc.send_signal(signal.SIGTERM)
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    proc.stderr_reader.join(10)
    proc.stderr.close()
    return usage.ru_utime + usage.ru_stime, peak_rss_mb(directory)


class Socket:
    """A bound Unix datagram socket in directory that receives the daemon's alerts."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "bench.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def drain(self):
        """Drop every datagram waiting."""
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(65536)
        except BlockingIOError:
            pass
        self.sock.setblocking(True)


# ---------------------------------------------------------------- 1-3: floods and one heavy client
def bench_flood(directory, runs, variants, clients=1000000):
    """1. The flood replayed: lines/s, peak RSS, and whether the hidden offender alerted."""
    flood = os.path.join(directory, "flood.log")
    lines = write_flood(flood, clients)
    size_mb = os.path.getsize(flood) / 1e6
    count_lines(flood)
    print(
        "1. Flood: %s matching lines (%.0f MB) from %s distinct clients (1/4 IPv6), %s's %d requests "
        "spread through it within 10 minutes, --replay"
        % ("{:,}".format(lines), size_mb, "{:,}".format(clients + 1), OFFENDER, gen_log.FLOOD_OFFENDER_HITS)
    )
    for label, extra in variants:
        wall, peak, out = time_replays(directory, [flood], runs, extra)
        alerts = [line.strip() for line in out.splitlines() if "SUSPICIOUS" in line]
        caught = [a for a in alerts if "IP %s " % OFFENDER in a]
        print(
            "   %s: median %.2f s (min %.2f, max %.2f) = %s lines/s %s"
            % (
                label,
                wall[0],
                wall[1],
                wall[2],
                "{:,.0f}".format(lines / wall[0]),
                against(lines / wall[0], 400000, "at least", " lines/s"),
            )
        )
        print(
            "   %s: peak RSS %s %s"
            % (label, rss_text(peak), "" if peak is None else against(peak, 100, "under", " MB"))
        )
        print(
            "   %s: offender caught: %s; %d alert(s) in all (target: caught: %s)"
            % (label, "yes, %r" % caught[0] if caught else "no", len(alerts), "met" if caught else "missed")
        )
    os.unlink(flood)


def flood_blocks(rate, seconds):
    """The live flood as one bytes block per tenth of a second, and the placeholder stamp of each.

    The flood's log times start at gen_log.START; the writer puts the wall
    clock in place of each block's placeholder just before writing it.
    """
    tick = rate // 10
    blocks = [
        ("".join(batch)).encode("ascii")
        for batch in gen_log.flood_batches(rate * seconds, seconds=seconds, batch=tick)
    ]
    stamps = [s.encode() for s in gen_log.clf_stamps(gen_log.START, seconds)]
    # with rate lines a second of log time, block j holds second j // 10
    return blocks, [stamps[j // 10] for j in range(len(blocks))]


def read_offset(pid, path):
    """The file offset of pid's open descriptor on path (from /proc), or None if none is open."""
    fds = "/proc/%d/fd" % pid
    try:
        for name in os.listdir(fds):
            try:
                if os.readlink(os.path.join(fds, name)) == path:
                    with open("/proc/%d/fdinfo/%s" % (pid, name)) as f:
                        return int(f.readline().split()[1])
            except (OSError, ValueError, IndexError):
                continue
    except OSError:
        pass
    return None


class LiveWatch:
    """What the bench sees of a following daemon: SIGUSR1 asked and answered, its read offset.

    ask() sends SIGUSR1 (and notes when); sample(offsets) notes the lag seen
    from outside: now minus the write time of the first byte not yet read,
    given offsets, a list of (end offset, perf_counter at the write) in order.
    """

    def __init__(self, proc, path):
        self.proc, self.path = proc, path
        self.asked, self.outside_lags = [], []
        self.offset = 0

    def ask(self):
        """Send SIGUSR1 and note when."""
        self.asked.append(time.perf_counter())
        self.proc.send_signal(signal.SIGUSR1)

    def sample(self, offsets):
        """Note the lag from outside at this moment; returns the daemon's read offset."""
        now = time.perf_counter()
        offset = read_offset(self.proc.pid, self.path)
        if offset is not None:
            self.offset = offset
        unread = [when for end, when in offsets if end > self.offset]
        self.outside_lags.append(now - unread[0] if unread else 0.0)
        return self.offset

    def statuses(self):
        """[(perf_counter received, lines read, lag seconds or None)] of the status lines so far."""
        found = []
        for when, line in list(self.proc.stderr_lines):
            m = STATUS.search(line)
            if m:  # idle: nothing unread, no lag; behind with an unknown log time: None
                lag = 0 if m.group(3) else None if m.group(2) is None else int(m.group(2))
                found.append((when, int(m.group(1)), lag))
        return found

    def answer_delays(self):
        """Seconds from each SIGUSR1 to the first status line received after it (unanswered left out)."""
        received = [when for when, _, _ in self.statuses()]
        delays = []
        for asked in self.asked:
            later = [when for when in received if when >= asked]
            if later:
                delays.append(later[0] - asked)
        return delays


def bench_live_flood(directory, seconds, rate=200000, patience=120):
    """2. The flood appended live: worst 'log time Ns behind' of SIGUSR1 status lines, and from outside.

    The log times are the wall clock at each write, so 'behind' means lag.
    From outside, the lag is how long ago the first byte the daemon has not
    read was written (its read offset from /proc, sampled ten times a second).
    """
    blocks, placeholders = flood_blocks(rate, seconds)
    total = sum(block.count(b"\n") for block in blocks)
    log = os.path.join(directory, "flood-live.log")
    out_path = os.path.join(directory, "flood-live.out")
    open(log, "w").close()
    with open(out_path, "w") as out:
        proc = start_daemon(directory, log, "--interval", "1", stdout=out)
    watch = LiveWatch(proc, log)
    time.sleep(1)
    base_cpu = proc_cpu(proc.pid)
    offsets, size = [], 0
    with open(log, "ab", buffering=0) as f:
        started = time.perf_counter()
        for j, block in enumerate(blocks):
            now_stamp = gen_log.clf_stamps(int(time.time()), 1)[0].encode()
            f.write(block.replace(placeholders[j], now_stamp))
            size += len(block)
            offsets.append((size, time.perf_counter()))
            watch.sample(offsets)
            if j % 10 == 9:
                watch.ask()
            delay = started + (j + 1) / 10 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        ended = time.perf_counter()
    # then until the daemon has read and counted every line: sample, and ask every second
    read_all = counted_all = None
    tick = 0
    while counted_all is None and time.perf_counter() < ended + patience:
        time.sleep(0.1)
        tick += 1
        if watch.sample(offsets) >= size and read_all is None:
            read_all = time.perf_counter()
        if tick % 10 == 0:
            watch.ask()
        counted = [when for when, lines, _ in watch.statuses() if lines >= total]
        counted_all = counted[0] if counted else None
    cpu = proc_cpu(proc.pid) - base_cpu
    statuses = watch.statuses()
    # every status line until the first that has counted all lines: each answers a
    # question asked while the writer wrote or while the daemon was still behind
    upto = [i for i, (_, lines, _) in enumerate(statuses) if lines >= total]
    lags = [lag for _, _, lag in statuses[: upto[0] + 1 if upto else len(statuses)]]
    delays = watch.answer_delays()
    _, peak = stop_daemon(proc, directory)
    with open(out_path) as f:
        caught = [line.strip() for line in f if "IP %s " % OFFENDER in line]
    elapsed = ended - started
    print(
        "2. Live flood: %s matching lines from as many clients (1/4 IPv6) + %s's %d, appended in "
        "%.1f s (%s lines/s; asked %s) to a file the daemon follows with --dry-run --interval 1; "
        "log times = the wall clock at the write"
        % (
            "{:,}".format(total - gen_log.FLOOD_OFFENDER_HITS),
            OFFENDER,
            gen_log.FLOOD_OFFENDER_HITS,
            elapsed,
            "{:,.0f}".format(total / elapsed),
            "{:,}".format(rate),
        )
    )
    known = [lag for lag in lags if lag is not None]
    print(
        "   worst lag by the status lines ('log time Ns behind', or idle: 0; SIGUSR1 every second): %s "
        "(%d status lines: %s) %s"
        % (
            "%d s" % max(known) if known else "none known",
            len(lags),
            " ".join("?" if lag is None else str(lag) for lag in lags) or "-",
            against(max(known), 2, "under", " s") if known else "(target: under 2 s: missed)",
        )
    )
    print(
        "   worst lag seen from outside (read offset against write times, 10 samples a second "
        "until all was read): %.1f s %s"
        % (max(watch.outside_lags), against(max(watch.outside_lags), 2, "under", " s"))
    )
    print(
        "   SIGUSR1 answered after median %s, worst %s (%d of %d asked); all read %s, all counted %s "
        "after the last write"
        % (
            "%.2f s" % statistics.median(delays) if delays else "-",
            "%.2f s" % max(delays) if delays else "-",
            len(delays),
            len(watch.asked),
            "%.1f s" % (read_all - ended) if read_all else "NOT within %d s" % patience,
            "%.1f s" % (counted_all - ended) if counted_all else "NOT within %d s" % patience,
        )
    )
    print(
        "   daemon CPU %.1f s after start-up; peak RSS %s; offender caught: %s"
        % (cpu, rss_text(peak), "yes" if caught else "no")
    )
    os.unlink(log)


def bench_heavy(directory, runs, variants):
    """3. One client's heavy stream replayed: lines/s."""
    path = os.path.join(directory, "heavy.log")
    lines = gen_log.write_log(path, gen_log.heavy_batches(600000))
    count_lines(path)
    print(
        "3. One client (%s) sending %s matching lines a second for %d s (%s lines), --replay"
        % (
            gen_log.HEAVY_CLIENT,
            "{:,}".format(gen_log.HEAVY_RATE),
            lines // gen_log.HEAVY_RATE,
            "{:,}".format(lines),
        )
    )
    for label, extra in variants:
        wall, peak, _ = time_replays(directory, [path], runs, extra)
        print(
            "   %s: median %.3f s (min %.3f, max %.3f) = %s lines/s %s; peak RSS %s"
            % (
                label,
                wall[0],
                wall[1],
                wall[2],
                "{:,.0f}".format(lines / wall[0]),
                against(lines / wall[0], 1000000, "at least", " lines/s"),
                rss_text(peak),
            )
        )
    os.unlink(path)


# ---------------------------------------------------------------- 4-6: replay against other tools
def bench_replay(directory, log, runs, variants):
    """4. A big plain log replayed against grep -c, and the floor of any replay in Python."""
    size_mb = os.path.getsize(log) / 1e6
    lines = count_lines(log)  # also warms the page cache
    matching = int(subprocess.run(["grep", "-c", TARGET, log], capture_output=True, text=True).stdout)

    def grep():
        # through a pipe: GNU grep stops at the first match when its output is /dev/null
        started = time.perf_counter()
        subprocess.run(["grep", "-c", TARGET, log], stdout=subprocess.PIPE, check=True)
        return time.perf_counter() - started

    grep_s = median_of(max(runs, 3), grep)
    print(
        "4. Replay of %s: %s lines, %.0f MB, %s lines (%.1f %%) contain %r"
        % (
            os.path.basename(log),
            "{:,}".format(lines),
            size_mb,
            "{:,}".format(matching),
            100.0 * matching / lines,
            TARGET,
        )
    )
    print("   grep -c | cat         median %.3f s (min %.3f, max %.3f)" % grep_s)
    for label, extra in variants:
        wall, peak, _ = time_replays(directory, [log], runs, extra)
        print(
            "   %s: log_monitor --replay  median %.3f s (min %.3f, max %.3f)  %.2f M lines/s  "
            "%.0f MB/s  peak RSS %s"
            % (label, wall[0], wall[1], wall[2], lines / wall[0] / 1e6, size_mb / wall[0], rss_text(peak))
        )
        print(
            "   %s: ratio replay / grep -c: %.1fx %s"
            % (label, wall[0] / grep_s[0], against(wall[0] / grep_s[0], 4, "at most", "x"))
        )
    bench_floor(log, runs, grep_s[0])


def bench_floor(log, runs, grep_s):
    """What any replay in Python pays: start-up, and the two C passes over the data."""
    start = median_of(runs, lambda: run_measured([sys.executable, "-c", "pass"])[0])[0]
    load = median_of(
        runs,
        lambda: run_measured(
            [
                sys.executable,
                "-c",
                "import sys; sys.argv = "
                "['x', '--version']; import runpy; "
                "runpy.run_path(%r, run_name='x')" % SCRIPT,
            ]
        )[0],
    )[0]
    with open(log, "rb") as f:
        chunks = list(iter(lambda: f.read(1 << 20), b""))

    def count():
        started = time.perf_counter()
        for chunk in chunks:
            chunk.count(b"\n")
        return time.perf_counter() - started

    def find():
        started = time.perf_counter()
        needle = TARGET.encode()
        for chunk in chunks:
            i = chunk.find(needle)
            while i != -1:
                end = chunk.find(b"\n", i)
                i = -1 if end == -1 else chunk.find(needle, end)
        return time.perf_counter() - started

    count_s, find_s = median_of(runs, count)[0], median_of(runs, find)[0]
    print(
        "   floor: interpreter start %.3f s, + compile and imports %.3f s; in memory, counting "
        "lines %.3f s and finding the target %.3f s (= %.1fx grep together)"
        % (start, load - start, count_s, find_s, (count_s + find_s) / grep_s)
    )


def bench_fail2ban(directory, log, runs, variants):
    """5. A plain log replayed against fail2ban-regex with the equivalent filter (one run of it)."""
    tool = shutil.which("fail2ban-regex")
    lines = count_lines(log)
    print("5. Replay of %s (%s lines) against fail2ban-regex" % (os.path.basename(log), "{:,}".format(lines)))
    if not tool:
        print("   fail2ban-regex: not installed (apt-get install fail2ban); no ratio")
        return
    # The equivalent filter: the client, then the target inside the quoted request line.
    failregex = r'^<HOST> \S+ \S+ \[\] "[A-Z]+ [^"]*%s' % TARGET
    datepattern = r"^[^\[]*\[({DATE})"
    started = time.perf_counter()
    done = subprocess.run(
        [tool, "--datepattern", datepattern, log, failregex], capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    summary = [line for line in done.stdout.splitlines() if "matched" in line.lower()][:2]
    print(
        "   fail2ban-regex        %.1f s (one run; filter %r, datepattern %r) %s"
        % (seconds, failregex, datepattern, "; ".join(s.strip() for s in summary))
    )
    for label, extra in variants:
        wall, _, out = time_replays(directory, [log], runs, extra)
        matches = re.search(r"matching requests\s+(\d+)", out)
        print(
            "   %s: log_monitor --replay  median %.3f s (min %.3f, max %.3f), %s matching requests"
            % (label, wall[0], wall[1], wall[2], matches.group(1) if matches else "?")
        )
        print(
            "   %s: ratio fail2ban-regex / replay: %.0fx %s"
            % (label, seconds / wall[0], against(seconds / wall[0], 50, "at least", "x"))
        )


def bench_gz(directory, runs, variants, parts=8, lines=1000000):
    """6. Rotated .gz files replayed against zcat | grep -c."""
    paths = gen_log.write_gz_series(directory, lines, parts)
    size_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    for path in paths:  # warm the page cache
        count_lines(path)

    def zcat_grep():
        return timed_pipeline([["zcat"] + paths, ["grep", "-c", TARGET]])

    baseline = median_of(max(runs, 3), zcat_grep)
    print(
        "6. %d rotated files %s .. %s: %s lines in all, %.0f MB compressed (gzip -6), --replay "
        "oldest first"
        % (parts, os.path.basename(paths[0]), os.path.basename(paths[-1]), "{:,}".format(lines), size_mb)
    )
    print("   zcat FILES | grep -c  median %.3f s (min %.3f, max %.3f)" % baseline)
    for label, extra in variants:
        wall, peak, _ = time_replays(directory, paths, runs, extra)
        ratio = wall[0] / baseline[0]
        print(
            "   %s: log_monitor --replay  median %.3f s (min %.3f, max %.3f)  %s lines/s  "
            "peak RSS %s"
            % (label, wall[0], wall[1], wall[2], "{:,.0f}".format(lines / wall[0]), rss_text(peak))
        )
        print(
            "   %s: ratio replay / (zcat | grep -c): %.2fx %s"
            % (label, ratio, against(ratio, 0.6, "at most", "x"))
        )
    for path in paths:
        os.unlink(path)


# ---------------------------------------------------------------- 7-10: the daemon, start-up
def bench_live(directory, source, seconds, rate=100000):
    """7. Daemon CPU per million lines while a writer appends source's lines at rate a second."""
    log = os.path.join(directory, "live.log")
    open(log, "w").close()
    with open(source, "rb") as f:
        lines = [line for line in (f.readline() for _ in range(rate * seconds)) if line]
    proc = start_daemon(directory, log)
    time.sleep(1)
    base_cpu = proc_cpu(proc.pid)  # start-up is not part of the figure
    written = 0
    with open(log, "ab", buffering=0) as out:
        started = time.perf_counter()
        for tick in range(seconds * 10):  # 10 writes a second of rate/10 lines each
            batch = lines[tick * rate // 10 : (tick + 1) * rate // 10]
            out.write(b"".join(batch))
            written += len(batch)
            delay = started + (tick + 1) / 10 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        elapsed = time.perf_counter() - started
    time.sleep(2.5)  # let it read the last writes
    cpu = proc_cpu(proc.pid)
    _, peak = stop_daemon(proc, directory)
    per_million = (cpu - base_cpu) / written * 1e6
    print(
        "7. Live: %s lines of %s appended in %.1f s (%s lines/s), interval 1 s"
        % ("{:,}".format(written), os.path.basename(source), elapsed, "{:,.0f}".format(written / elapsed))
    )
    print(
        "   daemon CPU while appending %.2f s = %.3f CPU-s per million lines %s "
        "(after start-up, /proc tick resolution); peak RSS %s"
        % (cpu - base_cpu, per_million, against(per_million, 0.3, "at most", " CPU-s"), rss_text(peak))
    )
    os.unlink(log)


def bench_latency(directory, runs):
    """8. Alert latency: write of the threshold-reaching line to the datagram at a bound socket."""
    sock = Socket(directory)
    for interval in ("1", "0.1"):
        log = os.path.join(directory, "latency-%s.log" % interval)
        open(log, "w").close()
        proc = start_daemon(directory, log, "--interval", interval, "--threshold", "3", sock=sock)
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        latencies = []
        for i in range(runs):
            ip = "10.%d.%d.%d" % (random.randrange(256), i, random.randrange(1, 255))
            line = ('%s - - [%s] "GET /%s HTTP/1.1" 200 1 "-" "-"\n' % (ip, stamp, TARGET)).encode()
            with open(log, "ab", buffering=0) as out:
                out.write(line * 2)
            time.sleep(random.uniform(0.05, float(interval) + 0.05))  # not in step with the poll
            sock.drain()
            with open(log, "ab", buffering=0) as out:
                written = time.perf_counter()
                out.write(line)
            sock.sock.settimeout(10)
            sock.sock.recv(65536)
            latencies.append(time.perf_counter() - written)
        stop_daemon(proc, directory)
        worst_ms = max(latencies) * 1000
        print(
            "8. Alert latency, write of the threshold-reaching line to the datagram, --interval %s: "
            "median %.0f ms, worst %.0f ms of %d %s"
            % (
                interval,
                statistics.median(latencies) * 1000,
                worst_ms,
                runs,
                against(worst_ms, int((float(interval) + 0.05) * 1000), "at most", " ms"),
            )
        )
    sock.sock.close()


def bench_idle(directory, seconds):
    """9. CPU of a daemon following a file nobody writes, at the default interval."""
    log = os.path.join(directory, "idle.log")
    open(log, "w").close()
    proc = start_daemon(directory, log)
    time.sleep(1)
    ticks = os.sysconf("SC_CLK_TCK")
    before, started = proc_cpu(proc.pid), time.perf_counter()
    time.sleep(seconds)
    used, elapsed = proc_cpu(proc.pid) - before, time.perf_counter() - started
    stop_daemon(proc, directory)
    share = 100 * used / elapsed
    print(
        "9. Idle CPU at the default interval over %.0f s: %.3f CPU-s = %.3f %% of one core %s "
        "(/proc tick resolution %.2f s)"
        % (elapsed, used, share, against(share, 0.1, "under", " %"), 1 / ticks)
    )


def bench_startup(directory, runs, variants):
    """10. Start-up: log_monitor.py --help, and a replay of 1,000 mixed lines. No target."""
    small = os.path.join(directory, "small.log")
    gen_log.write_log(small, gen_log.mixed_batches(1000))
    bare = median_of(runs, lambda: run_measured([sys.executable, "-c", "pass"])[0])
    helped = median_of(runs, lambda: run_measured([sys.executable, SCRIPT, "--help"])[0])
    print("10. Start-up, median of %d (no target; compare with an earlier run)" % runs)
    print("   python3 -c pass                   %.3f s (min %.3f, max %.3f)" % bare)
    print("   log_monitor.py --help             %.3f s (min %.3f, max %.3f)" % helped)
    for label, extra in variants:
        wall, _, _ = time_replays(directory, [small], runs, extra)
        print("   %s: --replay of 1,000 lines  %.3f s (min %.3f, max %.3f)" % ((label,) + wall))
    os.unlink(small)


# ---------------------------------------------------------------- command line
def parse_args(argv=None):
    """The command line: --log, --quick, --only (repeatable)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--log", metavar="FILE", help="replay this file in parts 4, 5 and 7 instead of a generated one"
    )
    p.add_argument("--quick", action="store_true", help="fewer repetitions; live runs of 5 s, idle over 10 s")
    p.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        metavar="NAME",
        help="run only this part (repeatable): %s" % ", ".join(PARTS),
    )
    a = p.parse_args(argv)
    if a.log is not None and not os.path.isfile(a.log):
        p.error("--log %s: no such file" % a.log)
    return a


def main(argv=None):
    """Run the parts asked for, in order; returns the exit status."""
    a = parse_args(argv)
    runs, big_runs = (3, 1) if a.quick else (5, 3)
    only = set(a.only or PARTS)
    variants = replay_variants()
    startup = median_of(runs, lambda: run_measured([sys.executable, "-c", "pass"])[0])[0]
    print(
        "log_monitor benchmark on %s, %s, %d cores, Python %s (%s: start-up %.3f s), %s; replays: %s%s"
        % (
            platform.node(),
            platform.processor() or platform.machine(),
            os.cpu_count(),
            platform.python_version(),
            sys.executable,
            startup,
            time.strftime("%Y-%m-%d"),
            " and ".join(label for label, _ in variants),
            "; --quick" if a.quick else "",
        )
    )
    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="log_monitor-bench-") as directory:
        mixed = {}

        def mixed_log(lines):
            """a.log, or a generated mixed log of lines, written once."""
            if a.log:
                return a.log
            if lines not in mixed:
                mixed[lines] = os.path.join(directory, "access-%dk.log" % (lines // 1000))
                gen_log.write_log(mixed[lines], gen_log.mixed_batches(lines))
            return mixed[lines]

        def drop(lines):
            if lines in mixed:
                os.unlink(mixed.pop(lines))

        steps = [
            ("flood", lambda: bench_flood(directory, big_runs, variants)),
            ("live-flood", lambda: bench_live_flood(directory, 5 if a.quick else 10)),
            ("heavy", lambda: bench_heavy(directory, runs, variants)),
            (
                "replay",
                lambda: (bench_replay(directory, mixed_log(5000000), big_runs, variants), drop(5000000)),
            ),
            ("fail2ban", lambda: bench_fail2ban(directory, mixed_log(1000000), big_runs, variants)),
            ("gz", lambda: bench_gz(directory, big_runs, variants)),
            ("live", lambda: bench_live(directory, mixed_log(1000000), 5 if a.quick else 10)),
            ("latency", lambda: bench_latency(directory, 10 if a.quick else 20)),
            ("idle", lambda: bench_idle(directory, 10 if a.quick else 60)),
            ("startup", lambda: bench_startup(directory, runs * 2, variants)),
        ]
        for number, (name, step) in enumerate(steps, 1):
            if name in only:
                try:
                    step()
                except PartFailed as e:
                    print("%d. %s: not measured: %s" % (number, name, e))
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
