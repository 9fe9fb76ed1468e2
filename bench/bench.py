#!/usr/bin/env python3
"""Benchmark log_monitor.py: replay speed against grep -c (and fail2ban-regex), live CPU,
alert latency, idle CPU and memory under a flood. Prints figures; asserts nothing.

    python3 bench/bench.py                 # everything, about 4 minutes
    python3 bench/bench.py --quick         # fewer repetitions, shorter idle
    python3 bench/bench.py --log FILE      # replay this file instead of a generated one

Input comes from ../shared/tools/gen_access_log.py (1,000,000 lines, about 4 % of
them containing the target). Each figure is the median of several runs; CPU
time and peak RSS are the child process's own (wait4).
"""

import argparse
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPT = os.path.join(ROOT, "log_monitor.py")
GENERATOR = os.path.join(ROOT, "..", "shared", "tools", "gen_access_log.py")
TARGET = "today_download"


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


def monitor_argv(directory, *args):
    """argv running log_monitor.py with args; its peak RSS lands in a file (peak_rss_mb)."""
    return [sys.executable, "-c", PEAK_RSS, os.path.join(directory, "peak-rss"), SCRIPT] + list(args)


def peak_rss_mb(directory):
    with open(os.path.join(directory, "peak-rss")) as f:
        return int(f.read()) / 1024


def run_measured(argv, stdout=subprocess.DEVNULL):
    """Run argv to the end; (wall seconds, cpu seconds, exit status)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def median_of(n, measure):
    values = [measure() for _ in range(n)]
    return statistics.median(values), min(values), max(values)


def generate(path, lines):
    subprocess.run([sys.executable, GENERATOR, "--lines", str(lines), "--out", path], check=True)


def bench_replay(log, runs):
    size_mb = os.path.getsize(log) / 1e6
    with open(log, "rb") as f:         # warm the page cache
        while f.read(1 << 24):
            pass
    lines = sum(1 for _ in open(log, "rb"))
    matching = int(subprocess.run(["grep", "-c", TARGET, log], capture_output=True, text=True).stdout)

    def grep():
        # through a pipe: GNU grep stops at the first match when its output is /dev/null
        started = time.perf_counter()
        subprocess.run(["grep", "-c", TARGET, log], stdout=subprocess.PIPE, check=True)
        return time.perf_counter() - started

    grep_s = median_of(runs, grep)

    def replay():
        wall, _, status = run_measured([sys.executable, SCRIPT, "--replay", log])
        assert status == 0, status
        return wall

    replay_s = median_of(runs, replay)
    run_measured(monitor_argv(os.path.dirname(log), "--replay", log))
    rss = [peak_rss_mb(os.path.dirname(log))]
    print("1. Replay of %s: %d lines, %.0f MB, %d lines (%.1f %%) contain %r"
          % (os.path.basename(log), lines, size_mb, matching, 100.0 * matching / lines, TARGET))
    print("   log_monitor --replay  median %.3f s (min %.3f, max %.3f)  %.2f M lines/s  %.0f MB/s  "
          "peak RSS %.1f MB" % (replay_s[0], replay_s[1], replay_s[2], lines / replay_s[0] / 1e6,
                                size_mb / replay_s[0], max(rss)))
    print("   grep -c | cat         median %.3f s (min %.3f, max %.3f)"
          % grep_s)
    print("   ratio replay / grep -c: %.1fx   (target: at most 4x)" % (replay_s[0] / grep_s[0]))
    bench_floor(log, runs, grep_s[0])
    bench_fail2ban(log, replay_s[0], lines)


def bench_floor(log, runs, grep_s):
    """What any replay in Python pays: start-up, and the two C passes over the data."""
    start = median_of(runs, lambda: run_measured([sys.executable, "-c", "pass"])[0])[0]
    load = median_of(runs, lambda: run_measured([sys.executable, "-c", "import sys; sys.argv = "
                                                 "['x', '--version']; import runpy; "
                                                 "runpy.run_path(%r, run_name='x')" % SCRIPT])[0])[0]
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
    print("   floor: interpreter start %.3f s, + compile and imports %.3f s; in memory, counting "
          "lines %.3f s and finding the target %.3f s (= %.1fx grep together)"
          % (start, load - start, count_s, find_s, (count_s + find_s) / grep_s))


def bench_fail2ban(log, replay_s, lines):
    tool = shutil.which("fail2ban-regex")
    if not tool:
        print("   fail2ban-regex: not installed (apt-get install fail2ban); no ratio")
        return
    # The equivalent filter: the client, then the target inside the quoted request line.
    failregex = r'^<HOST> \S+ \S+ \[\] "[A-Z]+ [^"]*%s' % TARGET
    datepattern = r"^[^\[]*\[({DATE})"
    started = time.perf_counter()
    done = subprocess.run([tool, "--datepattern", datepattern, log, failregex],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    summary = [line for line in done.stdout.splitlines() if "matched" in line.lower()][:2]
    print("   fail2ban-regex        %.1f s (one run; filter %r, datepattern %r) %s"
          % (seconds, failregex, datepattern, "; ".join(s.strip() for s in summary)))
    print("   ratio fail2ban-regex / replay: %.0fx   (target: at least 50x)" % (seconds / replay_s))


class Socket:
    def __init__(self, directory):
        self.path = os.path.join(directory, "bench.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def drain(self):
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(65536)
        except BlockingIOError:
            pass
        self.sock.setblocking(True)


def start_daemon(directory, log, *extra, sock=None):
    argv = monitor_argv(directory, "--log-file", log, *extra)
    argv += ["--syslog-socket", sock.path] if sock else ["--dry-run"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:                     # ready once it follows the file
        if "Following" in line:
            break
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
    proc.stderr.close()
    return usage.ru_utime + usage.ru_stime, peak_rss_mb(directory)


def bench_live(directory, source, rate=100000, seconds=10):
    log = os.path.join(directory, "live.log")
    open(log, "w").close()
    # start the daemon before this process holds the lines: a child's peak RSS
    # counts the parent's pages it shared before exec
    proc = start_daemon(directory, log)
    with open(source, "rb") as f:
        lines = [f.readline() for _ in range(rate * seconds)]
    time.sleep(1)
    base_cpu = proc_cpu(proc.pid)           # start-up is not part of the figure
    written = 0
    with open(log, "ab", buffering=0) as out:
        started = time.perf_counter()
        for tick in range(seconds * 10):     # 10 writes a second of rate/10 lines each
            batch = lines[tick * rate // 10:(tick + 1) * rate // 10]
            out.write(b"".join(batch))
            written += len(batch)
            delay = started + (tick + 1) / 10 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        elapsed = time.perf_counter() - started
    time.sleep(2.5)                          # let it read the last writes
    cpu = proc_cpu(proc.pid)
    _, peak = stop_daemon(proc, directory)
    print("2. Live: %d lines appended in %.1f s (%.0f lines/s), interval 1 s"
          % (written, elapsed, written / elapsed))
    print("   daemon CPU while appending %.2f s = %.3f CPU-s per million lines (target: at most 0.3; "
          "after start-up, /proc tick resolution); peak RSS %.1f MB"
          % (cpu - base_cpu, (cpu - base_cpu) / written * 1e6, peak))


def bench_latency(directory, runs):
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
            time.sleep(random.uniform(0.05, float(interval) + 0.05))   # not in step with the poll
            sock.drain()
            with open(log, "ab", buffering=0) as out:
                written = time.perf_counter()
                out.write(line)
            sock.sock.settimeout(10)
            sock.sock.recv(65536)
            latencies.append(time.perf_counter() - written)
        stop_daemon(proc, directory)
        print("3. Alert latency, write of the threshold-reaching line to the datagram, --interval %s: "
              "median %.0f ms, worst %.0f ms of %d (target: at most %.0f ms)"
              % (interval, statistics.median(latencies) * 1000, max(latencies) * 1000, runs,
                 (float(interval) + 0.05) * 1000))


def bench_idle(directory, seconds):
    log = os.path.join(directory, "idle.log")
    open(log, "w").close()
    proc = start_daemon(directory, log)
    time.sleep(1)
    ticks = os.sysconf("SC_CLK_TCK")
    before, started = proc_cpu(proc.pid), time.perf_counter()
    time.sleep(seconds)
    used, elapsed = proc_cpu(proc.pid) - before, time.perf_counter() - started
    stop_daemon(proc, directory)
    print("4. Idle CPU at the default interval over %.0f s: %.3f CPU-s = %.3f %% of one core "
          "(target: under 0.1 %%; /proc tick resolution %.2f s)"
          % (elapsed, used, 100 * used / elapsed, 1 / ticks))


def write_flood(path, n=1000000):
    """n distinct one-request clients (IPv4 and IPv6) and one offender's 10 hits spread through them."""
    rng = random.Random(3)
    base = time.mktime((2025, 7, 9, 14, 0, 0, 0, 0, -1))
    stamps = [time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(base + s)) for s in range(600)]
    with open(path, "w") as f:
        chunk = []
        for i in range(n):
            if i % (n // 10) == n // 20:
                chunk.append('203.0.113.66 - - [%s] "GET /%s HTTP/1.1" 200 1 "-" "-"\n'
                             % (stamps[i * 600 // n], TARGET))
            ip = ("2001:db8:%x:%x::%x" % (i >> 16, rng.getrandbits(16), i & 0xffff) if i % 4 == 0
                  else "%d.%d.%d.%d" % (1 + (i >> 24), (i >> 16) & 255, (i >> 8) & 255, i & 255))
            chunk.append('%s - - [%s] "GET /%s?a=1 HTTP/1.1" 200 1 "-" "-"\n'
                         % (ip, stamps[i * 600 // n], TARGET))
            if len(chunk) >= 10000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))


def bench_one_client(directory, rate=10000, seconds=60):
    """One client sending rate matching lines a second for seconds (log time), replayed."""
    path = os.path.join(directory, "one-client.log")
    base = time.mktime((2025, 7, 9, 14, 0, 0, 0, 0, -1))
    with open(path, "w") as f:
        for second in range(seconds):
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(base + second))
            f.write('198.51.100.9 - - [%s] "GET /%s?album=1 HTTP/1.1" 200 1 "-" "-"\n'
                    % (stamp, TARGET) * rate)
    wall, cpu, status = run_measured(monitor_argv(directory, "--replay", path))
    peak = peak_rss_mb(directory)
    print("6. One client, %d matching lines a second for %d s (%d lines), --replay: %.2f s, "
          "peak RSS %.1f MB" % (rate, seconds, rate * seconds, wall, peak))


def bench_flood(directory):
    flood = os.path.join(directory, "flood.log")
    write_flood(flood)
    out = os.path.join(directory, "flood.out")
    with open(out, "w") as f:
        wall, cpu, status = run_measured(monitor_argv(directory, "--replay", flood), stdout=f)
    peak = peak_rss_mb(directory)
    with open(out) as f:
        alerts = [line.strip() for line in f if "SUSPICIOUS" in line]
    print("5. Flood of 1,000,000 distinct one-request clients (1/4 IPv6) + one offender's 10 hits "
          "spread through it, --replay: %.1f s, peak RSS %.1f MB (target: under 100 MB), alerts: %s"
          % (wall, peak, alerts))
    # the live daemon reading the same flood
    log = os.path.join(directory, "flood-live.log")
    open(log, "w").close()
    proc = start_daemon(directory, log)
    with open(flood, "rb") as src, open(log, "ab") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    size = os.path.getsize(log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:     # wait until the daemon has read all of it
        fd = "/proc/%d/fdinfo" % proc.pid
        try:
            positions = []
            for name in os.listdir(fd):
                with open(os.path.join(fd, name)) as f:
                    positions.append(int(f.readline().split()[1]))
            if size in positions:
                break
        except OSError:
            pass
        time.sleep(0.5)
    time.sleep(1.5)
    cpu, peak = stop_daemon(proc, directory)
    print("   the same flood appended to a followed file, live daemon: peak RSS %.1f MB, CPU %.1f s"
          % (peak, cpu))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log", help="replay this file instead of a generated one")
    p.add_argument("--quick", action="store_true", help="fewer repetitions, 10 s idle")
    p.add_argument("--only", choices=["replay", "live", "latency", "idle", "flood"], action="append")
    a = p.parse_args()
    runs = 3 if a.quick else 5
    only = set(a.only or ["replay", "live", "latency", "idle", "flood"])
    startup = median_of(runs, lambda: run_measured([sys.executable, "-c", "pass"])[0])[0]
    print("log_monitor benchmark on %s, %s, %d cores, Python %s (%s: start-up %.3f s), %s"
          % (platform.node(), platform.processor() or platform.machine(), os.cpu_count(),
             platform.python_version(), sys.executable, startup, time.strftime("%Y-%m-%d")))
    with tempfile.TemporaryDirectory() as directory:
        log = a.log
        if log is None:
            if not os.path.exists(GENERATOR):
                sys.exit("bench.py: %s not found; pass --log FILE" % GENERATOR)
            log = os.path.join(directory, "access.log")
            generate(log, 1000000)
        if "replay" in only:
            bench_replay(log, runs)
        if "live" in only:
            bench_live(directory, log)
        if "latency" in only:
            bench_latency(directory, 10 if a.quick else 20)
        if "idle" in only:
            bench_idle(directory, 10 if a.quick else 60)
        if "flood" in only:
            bench_flood(directory)
            bench_one_client(directory)


if __name__ == "__main__":
    main()
