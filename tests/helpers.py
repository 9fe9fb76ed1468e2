"""Shared test helpers: log lines, a syslog receiver on a Unix socket, the script as a process."""

import atexit
import calendar
import importlib.util
import json
import os
import py_compile
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPT = os.path.join(ROOT, "log_monitor.py")
sys.path.insert(0, ROOT)

import log_monitor  # noqa: E402

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
T0 = calendar.timegm((2025, 7, 9, 5, 30, 25))  # 09/Jul/2025:14:30:25 +0900
# Log times for live tests that expect syslog delivery: a live alert more than a window
# old is not paged, and one more than a minute ahead of the clock counts at the clock time.
RECENT = int(time.time()) - 300


def clf_time(t, offset_minutes=540):
    """CLF timestamp text of epoch t in a zone offset_minutes east of UTC."""
    tm = time.gmtime(t + offset_minutes * 60)
    sign = "+" if offset_minutes >= 0 else "-"
    return "%02d/%s/%04d:%02d:%02d:%02d %s%02d%02d" % (
        tm.tm_mday,
        MONTHS[tm.tm_mon - 1],
        tm.tm_year,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        sign,
        abs(offset_minutes) // 60,
        abs(offset_minutes) % 60,
    )


def clf(ip, t=T0, path="/today_download", referer="-", agent="Mozilla/5.0", method="GET"):
    """One Combined Log Format line (str, with newline)."""
    return '%s - - [%s] "%s %s HTTP/1.1" 200 1024 "%s" "%s"\n' % (
        ip,
        clf_time(t),
        method,
        path,
        referer,
        agent,
    )


EXPECTED = "SUSPICIOUS ACTIVITY: IP %s accessed today_download %d times in 10 minutes"


def burst(ip, n, start=T0, step=5):
    """n CLF lines of ip requesting the target, step seconds apart."""
    return "".join(clf(ip, start + i * step) for i in range(n))


def append(path, text):
    """Append text (str or bytes) to path and close it, as a writer would."""
    with open(path, "ab") as f:
        f.write(text.encode() if isinstance(text, str) else text)


class SyslogReceiver:
    """A Unix datagram socket bound in a temp dir, as syslogd binds /dev/log."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "log.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def receive(self, timeout=10.0):
        """The next datagram as text, or None after timeout seconds."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(65536).decode("utf-8", "replace")
        except socket.timeout:
            return None

    def close(self):
        self.sock.close()


SYSLOG_LINE = re.compile(
    r"^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (?:[^ :]+ )?([^ :\[]+)(?:\[\d+\])?: (.*)$", re.S
)


def parse_datagram(text):
    """(priority, tag, message) of an RFC 3164 datagram as logger sends to a local socket."""
    match = SYSLOG_LINE.match(text)
    if not match:
        raise AssertionError("not a syslog datagram: %r" % text)
    return int(match.group(1)), match.group(2), match.group(3)


def fake_logger(directory, body):
    """A directory holding an executable `logger` shell script with body; for PATH."""
    bin_dir = os.path.join(directory, "bin")
    os.makedirs(bin_dir, exist_ok=True)
    path = os.path.join(bin_dir, "logger")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return bin_dir


# Runs log_monitor.py with some names of its configuration block changed first, as a
# user editing the block would: how tests shorten intervals instead of waiting them out.
CONFIGURED = (
    "import json, os, sys; sys.path.insert(0, os.path.dirname(sys.argv[1])); "
    "import log_monitor; vars(log_monitor).update(json.loads(sys.argv[2])); "
    "sys.exit(log_monitor.main(sys.argv[3:]))"
)


def script_argv(args, config=None, python=sys.executable):
    """argv running log_monitor.py's main() with args; config: {NAME: value} set in its
    configuration block first. It imports the module, so the bytecode compiled below is used
    (a script run as `python3 log_monitor.py` is compiled at every start)."""
    # -S: no site-packages to import (the program needs none): a faster start for every daemon
    return [python, "-S", "-c", CONFIGURED, SCRIPT, json.dumps(config or {})] + list(args)


def run_together(argvs, timeout=60, **kwargs):
    """subprocess.run(argv, capture_output=True) for each argv, all started at once (for runs
    that do not depend on each other: the machine has more than one core); the
    CompletedProcess of each, in the order of argvs. kwargs go to Popen (text, env, ...)."""
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    procs = [subprocess.Popen(argv, **pipes, **kwargs) for argv in argvs]
    done = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        return done
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


# Compiled once for the whole run (even with PYTHONDONTWRITEBYTECODE set, a .pyc is read).
py_compile.compile(SCRIPT, cfile=importlib.util.cache_from_source(SCRIPT))


# A process that has imported log_monitor once and forks a daemon for each Daemon(): each is a
# process of its own (its pid, its signals, its exit status), without Python's start-up and the
# import, about 0.1 s each on a slow machine. The fork happens in a process with one thread.
# Daemon(spawn=True), and LOG_MONITOR_TESTS_SPAWN=1 for all, start it the usual way.
FORK_SERVER = r"""
import json, os, signal, socket, sys, time
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import log_monitor
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[2])
server.listen(64)
waiting = {}  # pid -> the connection that hears its exit status

def reap(signum, frame):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        conn = waiting.pop(pid, None)
        if conn is not None:
            try:
                conn.sendall(b"%d\n" % os.waitstatus_to_exitcode(status))
            except OSError:
                pass
            conn.close()

signal.signal(signal.SIGCHLD, reap)
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    conn, _ = server.accept()
    message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    request = json.loads(message)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        server.close()
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        vars(log_monitor).update(request["config"])
        try:
            code = log_monitor.main(request["argv"])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    for fd in fds:
        os.close(fd)
    waiting[pid] = conn
    conn.sendall(b"%d\n" % pid)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
"""


class ForkedProcess:
    """A daemon the fork server made, as much of a subprocess.Popen as Daemon uses: pid, stdout,
    stderr, args, poll(), wait(), send_signal(), kill(), returncode."""

    def __init__(self, conn, pid, stdout, stderr, args):
        self.conn, self.pid, self.stdout, self.stderr, self.args = conn, pid, stdout, stderr, args
        self.returncode = None

    def poll(self):
        return self.wait(0) if self.returncode is None else self.returncode

    def wait(self, timeout=None):
        if self.returncode is None:
            self.conn.settimeout(timeout)
            try:
                data = self.conn.recv(64)
            except (socket.timeout, BlockingIOError):
                if timeout is not None and timeout <= 0:
                    return None
                raise subprocess.TimeoutExpired(self.args, timeout) from None
            self.returncode = int(data) if data else -signal.SIGKILL  # the server itself was killed
            self.conn.close()
        return self.returncode

    def send_signal(self, sig):
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self):
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """The fork server, started at the first Daemon and stopped when the tests end."""

    server = None

    @classmethod
    def start(cls, argv, config, env):
        """A ForkedProcess running log_monitor's main(argv) with config set in its block."""
        if cls.server is None:
            directory = tempfile.mkdtemp(prefix="log_monitor-forks-")
            cls.path = os.path.join(directory, "fork.sock")
            cls.server = subprocess.Popen(
                [sys.executable, "-S", "-c", FORK_SERVER, SCRIPT, cls.path], stdout=subprocess.PIPE, text=True
            )
            cls.server.stdout.readline()  # ready
            atexit.register(cls.server.kill)
            atexit.register(shutil.rmtree, directory, True)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(cls.path)
        request = {
            "argv": list(argv),
            "config": config or {},
            "env": dict(os.environ if env is None else env),
        }
        socket.send_fds(conn, [json.dumps(request).encode()], [null, out_w, err_w])
        for fd in (null, out_w, err_w):
            os.close(fd)
        pid = int(conn.makefile().readline())
        stdout, stderr = os.fdopen(out_r, "r"), os.fdopen(err_r, "r")
        return ForkedProcess(conn, pid, stdout, stderr, ["log_monitor.py", *argv])


# What starts each stderr line outside journald: its ISO 8601 time.
STDERR_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ")


def unstamped(text):
    """Stderr text without the time that starts each line (STDERR_STAMP)."""
    return re.sub(r"(?m)^" + STDERR_STAMP.pattern, "", text)


class Daemon:
    """log_monitor.py running as a real process; stdout and stderr collected line by line (stderr
    without the time each line starts with; lines without one are also in unstamped)."""

    def __init__(self, *args, env=None, preexec_fn=None, python=sys.executable, config=None, spawn=False):
        if spawn or preexec_fn or python != sys.executable or os.environ.get("LOG_MONITOR_TESTS_SPAWN"):
            self.proc = subprocess.Popen(  # a child of the test's own, started the usual way
                script_argv(args, config, python),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                preexec_fn=preexec_fn,
            )
        else:
            self.proc = ForkServer.start(args, config, env)
        self.out, self.err, self.unstamped = [], [], []
        self._lines = queue.Queue()
        self._pumps = [
            threading.Thread(target=self._pump, args=(stream, into), daemon=True)
            for stream, into in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for pump in self._pumps:
            pump.start()

    def _pump(self, stream, into):
        for line in stream:
            line = line.rstrip("\n")
            if into is self.err:  # each stderr line starts with its time (outside journald)
                stamp = STDERR_STAMP.match(line)
                if stamp is None:
                    self.unstamped.append(line)
                line = line[stamp.end() :] if stamp else line
            into.append(line)
            self._lines.put(None)

    def wait_for(self, text, where="err", timeout=10.0, count=1):
        """Wait until count lines of stderr (or stdout) contain text; the matching lines."""
        lines = self.err if where == "err" else self.out
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in list(lines) if text in line]
            if len(found) >= count:
                return found
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None and self._lines.empty():
                raise AssertionError(
                    "no %r on std%s within %gs; stderr: %s; stdout: %s"
                    % (text, where, timeout, self.err, self.out)
                )
            try:
                self._lines.get(timeout=min(left, 0.2))
            except queue.Empty:
                pass

    def wait_read(self, lines, timeout=10.0):
        """Ask for the status line (SIGUSR1) until the daemon has read this many lines."""
        deadline = time.monotonic() + timeout
        asked = len([line for line in self.err if "status:" in line])
        while True:
            self.proc.send_signal(signal.SIGUSR1)
            asked += 1
            status = self.wait_for("status:", count=asked, timeout=timeout)[-1]
            if "lines read %d," % lines in status:
                return status
            if time.monotonic() > deadline:
                raise AssertionError("never read %d lines: %s" % (lines, status))
            time.sleep(0.02)

    def wait_passes(self, passes, timeout=10.0):
        """Wait until the daemon has run at least this many whole passes (read the log, count,
        the periodic step) since the call, without sleeping a guess of the interval: each
        SIGUSR1 is answered at the end of a pass, and the next one is sent only after the
        answer, so each answer after the first ends a pass that began after this call."""
        asked = len([line for line in self.err if "status:" in line])
        for _ in range(passes + 1):
            self.proc.send_signal(signal.SIGUSR1)
            asked += 1
            self.wait_for("status:", count=asked, timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Send sig and wait for the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        status = self.proc.wait(timeout)
        self._close()
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close()

    def _close(self):
        for pump in self._pumps:  # the last lines are read once the pipes hit end of file
            pump.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()


def wait_until(check, timeout=10.0, what="the condition", diagnostics=lambda: "", step=0.01):
    """Call check() every step seconds until it returns something true; that value. Fails after
    timeout seconds: a generous deadline for what should happen, a short step to see it soon;
    diagnostics() is added to the failure."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %g s%s" % (what, timeout, diagnostics()))
        time.sleep(step)


def class_dir(cls):
    """A temporary directory for a test class (in setUpClass), removed with the class: its path."""
    tmp = tempfile.TemporaryDirectory()
    cls.addClassCleanup(tmp.cleanup)
    return tmp.name


class TempDirTest(unittest.TestCase):
    """A test with a fresh temporary directory in self.dir."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.addCleanup(self._tmp.cleanup)

    def receiver(self):
        receiver = SyslogReceiver(self.dir)
        self.addCleanup(receiver.close)
        return receiver

    def daemon(self, *args, **kwargs):
        daemon = Daemon(*args, **kwargs)
        self.addCleanup(daemon.kill)
        return daemon


def settings(*argv):
    """Settings as the command line would give them."""
    return log_monitor.parse_args(list(argv))
