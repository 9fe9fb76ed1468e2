"""End to end: many web servers, one monitor (issue 11), through real rsyslogd processes.

The documented pipeline, on 127.0.0.1 in a temp dir: two "web servers" (rsyslogd with
localHostname web1 and web2) read their access.log with imfile (in inotify mode, its
default and recommended one: lines are read as they are written) and forward it over TCP
(omfwd) to a central rsyslogd (imtcp), which writes the merged stream to three files, one
per file format:
    RSYSLOG_TraditionalFileFormat  Nov 23 09:37:54 web1 apache: 192.0.2.44 - - [...] ...
    RSYSLOG_FileFormat (omfile's   2026-11-23T09:37:54.909306+00:00 web2 apache: 192.0.2.44 ...
      built-in default)
    RSYSLOG_SyslogProtocol23Format <133>1 2026-11-23T09:37:54+00:00 web1 apache - - -  192.0.2.44 ...
web1 forwards in omfwd's default format (RFC 3164, whole seconds), web2 in
RSYSLOG_ForwardFormat (RFC 3339 time with microseconds), so each merged file holds both
timestamp shapes. One log_monitor per merged file follows it and alerts through
`logger --socket` into a third rsyslogd (imuxsock, one socket per monitor), whose files
show the priority and tag that arrived.

One client's burst is split over the two servers (6 + 4 requests): only a monitor that
reads the merged stream through its syslog headers sees all 10.

Each rsyslogd runs unprivileged-style: its own config, work directory (imfile state),
pid file, and file of its own messages (processInternalMessages="on": nothing goes to
/dev/log); no imuxsock system socket, no imklog. Absolute paths only: rsyslogd changes
to / before it writes the pid file. One pipeline serves the whole class (about half a second).
"""

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import unittest

from helpers import EXPECTED, RECENT, Daemon, append, class_dir, clf, wait_until

RSYSLOGD = shutil.which("rsyslogd") or next(
    (path for path in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if os.access(path, os.X_OK)), None
)
LOGGER = shutil.which("logger")

BURST_IP = "198.51.100.23"  # 6 requests on web1 + 4 on web2: 10 in the merged stream
NEAR_IP = "203.0.113.7"  # 5 + 4: one short of an alert
BROWSER_IP = "192.0.2.44"  # 6 + 6 requests of another page


def web_lines(server):
    """The access.log text written on server ("web1" or "web2"): the burst's share and noise."""
    second = server == "web2"
    burst = [clf(BURST_IP, RECENT + i) for i in (range(6, 10) if second else range(6))]
    near = [clf(NEAR_IP, RECENT + 20 + i) for i in (range(5, 9) if second else range(5))]
    pages = [clf(BROWSER_IP, RECENT + 40 + i, path="/index.html") for i in range(6)]
    rows = itertools.zip_longest(pages, burst, near)  # interleaved, as a busy server writes them
    lines = [line for row in rows for line in row if line]
    return "".join(lines)


# The merged files: name -> (central's omfile template, None = built-in default; a line's shape).
FORMATS = {
    "traditional": (
        "RSYSLOG_TraditionalFileFormat",
        re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S+) apache: (.*)$"),
    ),
    "fileformat": (
        None,
        re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d) (\S+) apache: (.*)$"),
    ),
    "rfc5424": (
        "RSYSLOG_SyslogProtocol23Format",
        re.compile(r"^<\d{1,3}>1 \d{4}-\d\d-\d\dT\S+ (\S+) apache - - - {1,2}(.*)$"),
    ),
}


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accepts(port):
    """True if something accepts TCP connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def read_lines(path):
    """The lines of path without newlines; [] if it does not exist yet."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


class Rsyslogd:
    """One rsyslogd in the foreground (-n) with its own config, work directory and pid file.

    Its messages about itself go to DIR/internal.log (processInternalMessages: never to
    /dev/log), its stdout and stderr to DIR/stderr.log; diagnostics() shows both for a
    failure message. stop() sends SIGTERM and waits; kill() is the cleanup's last resort.
    """

    def __init__(self, directory, name, body, global_params=""):
        self.name = name
        self.dir = os.path.join(directory, name)
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "rsyslog.conf")
        self.pid_file = os.path.join(self.dir, "rsyslogd.pid")
        self.internal = os.path.join(self.dir, "internal.log")
        with open(self.conf, "w") as f:
            f.write(
                'global(workDirectory="%s" processInternalMessages="on"%s)\n%s\n'
                'action(type="omfile" file="%s")\n' % (self.dir, global_params, body, self.internal)
            )
        with open(os.path.join(self.dir, "stderr.log"), "wb") as out:
            self.proc = subprocess.Popen(
                [RSYSLOGD, "-n", "-f", self.conf, "-i", self.pid_file],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
            )

    def diagnostics(self):
        """What it said: its state, stderr and internal.log, as text for a failure message."""
        return "\n%s (%s): stderr %r, internal %r" % (
            self.name,
            "running" if self.proc.poll() is None else "exit %s" % self.proc.returncode,
            read_lines(os.path.join(self.dir, "stderr.log")),
            read_lines(self.internal),
        )

    def stop(self, timeout=5.0):
        """SIGTERM, and the exit status (killed if it is not gone within timeout s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                "%s ignored SIGTERM for %g s%s" % (self.name, timeout, self.diagnostics())
            ) from None

    def kill(self):
        """SIGKILL if still running, and reap it (a class cleanup: nothing is left behind)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@unittest.skipUnless(RSYSLOGD, "rsyslog is not installed (apt-get install rsyslog)")
@unittest.skipUnless(LOGGER, "util-linux logger is not installed")
class ManyWebServersTest(unittest.TestCase):
    """One pipeline for the class: the rsyslogd processes start, the lines are written once."""

    @classmethod
    def setUpClass(cls):
        cls.dir = class_dir(cls)
        cls.daemons = []
        cls.start_alert_syslog()
        cls.monitors = {}
        for name in FORMATS:
            argv = ("--log-file", cls.merged(name), "--syslog-socket", cls.alert_socket(name))
            cls.monitors[name] = Daemon(*argv, "--interval", "0.05")
            cls.addClassCleanup(cls.monitors[name].kill)
        for monitor in cls.monitors.values():
            monitor.wait_for("Waiting for log file")  # it reads the merged file from its start
        cls.start_central()
        cls.web_logs = {}
        for server, forward_template in (("web1", None), ("web2", "RSYSLOG_ForwardFormat")):
            cls.start_web_server(server, forward_template)
        for server, path in cls.web_logs.items():
            append(path, web_lines(server))
        cls.written = sorted(web_lines("web1").splitlines() + web_lines("web2").splitlines())

    @classmethod
    def tearDownClass(cls):
        for monitor in cls.monitors.values():
            monitor.stop()
        for daemon in reversed(cls.daemons):
            daemon.stop()

    @classmethod
    def rsyslogd(cls, name, body, global_params=""):
        """Start an Rsyslogd in the class's temp dir, killed by the class cleanup at the latest."""
        daemon = Rsyslogd(cls.dir, name, body, global_params)
        cls.addClassCleanup(daemon.kill)
        cls.daemons.append(daemon)
        return daemon

    @classmethod
    def diagnostics(cls):
        """Every rsyslogd's diagnostics()."""
        return "".join(daemon.diagnostics() for daemon in cls.daemons)

    @classmethod
    def merged(cls, name):
        """The central server's file in format name."""
        return os.path.join(cls.dir, "merged-%s.log" % name)

    @classmethod
    def alert_socket(cls, name):
        """The alert syslog's socket for the monitor of format name (or "probe")."""
        return os.path.join(cls.dir, "alert-%s.sock" % name)

    @classmethod
    def alerts(cls, name):
        """The file where the alert syslog writes what arrives on alert_socket(name)."""
        return os.path.join(cls.dir, "alerts-%s.log" % name)

    @classmethod
    def start_alert_syslog(cls):
        """The monitor host's syslog: one imuxsock socket and one file per monitor, and a probe's."""
        body = [
            'module(load="imuxsock" SysSock.Use="off")',
            'template(name="alert" type="string" string="%pri% %syslogtag%%msg%\\n")',
        ]
        for name in list(FORMATS) + ["probe"]:
            body.append('input(type="imuxsock" Socket="%s" ruleset="%s")' % (cls.alert_socket(name), name))
            body.append(
                'ruleset(name="%s") { action(type="omfile" file="%s" template="alert") }'
                % (name, cls.alerts(name))
            )
        cls.rsyslogd("alert-syslog", "\n".join(body))
        wait_until(
            lambda: all(os.path.exists(cls.alert_socket(name)) for name in list(FORMATS) + ["probe"]),
            5,
            "alert rsyslogd's sockets",
            cls.diagnostics,
        )

    @classmethod
    def start_central(cls):
        """The central server: imtcp on a free port, the remote stream to one file per format."""
        cls.port = free_port()
        actions = "\n".join(
            '  action(type="omfile" file="%s"%s)'
            % (cls.merged(name), ' template="%s"' % template if template else "")
            for name, (template, _shape) in FORMATS.items()
        )
        cls.rsyslogd(
            "central",
            'module(load="imtcp")\n'
            'input(type="imtcp" address="127.0.0.1" port="%d" ruleset="remote")\n'
            'ruleset(name="remote") {\n%s\n}' % (cls.port, actions),
        )
        wait_until(lambda: accepts(cls.port), 5, "central rsyslogd on port %d" % cls.port, cls.diagnostics)

    @classmethod
    def start_web_server(cls, server, forward_template):
        """A web server's rsyslogd: imfile on its access.log, forwarded over TCP to the central one."""
        os.makedirs(os.path.join(cls.dir, server + "-www"))
        path = cls.web_logs[server] = os.path.join(cls.dir, server + "-www", "access.log")
        append(path, "")
        cls.rsyslogd(
            server,
            'module(load="imfile" mode="inotify")\n'
            'input(type="imfile" File="%s" Tag="apache:" ruleset="forward")\n'
            'ruleset(name="forward") {\n'
            '  action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp"%s action.resumeInterval="1")\n'
            "}" % (path, cls.port, ' template="%s"' % forward_template if forward_template else ""),
            ' localHostname="%s"' % server,
        )

    def wait_merged(self, name):
        """The merged file's lines once every line written on both servers is in it."""
        path = self.merged(name)

        def complete():
            lines = read_lines(path)
            return lines if len(lines) >= len(self.written) else None

        return wait_until(
            complete,
            5,
            "all %d lines in %s" % (len(self.written), path),
            lambda: "; it holds %r%s" % (read_lines(path), self.diagnostics()),
        )

    def test_merged_files_hold_both_servers_lines_behind_syslog_headers(self):
        for name, (_template, shape) in FORMATS.items():
            with self.subTest(name):
                lines = self.wait_merged(name)
                matches = [shape.match(line) for line in lines]
                self.assertNotIn(None, matches, "not a %s line in %r" % (name, lines))
                self.assertEqual({m.group(1) for m in matches}, {"web1", "web2"}, lines)
                self.assertEqual(sorted(m.group(2) for m in matches), self.written, lines)

    def test_alert_syslog_records_what_logger_sends(self):
        argv = [LOGGER, "--socket", self.alert_socket("probe"), "-p", "user.err", "-t", "AlbumMonitor"]
        done = subprocess.run(argv + ["--", "test"], capture_output=True, text=True, timeout=5)
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = wait_until(lambda: read_lines(self.alerts("probe")), 5, "the probe", self.diagnostics)
        self.assertEqual(lines, ["11 AlbumMonitor: test"])

    def check_one_alert(self, name):
        """The burst split over two servers raises one alert, on stdout and in syslog; nobody else does."""
        lines = self.wait_merged(name)
        monitor = self.monitors[name]
        expected = EXPECTED % (BURST_IP, 10)
        monitor.wait_for(expected, where="out", timeout=4)
        monitor.wait_read(len(lines), timeout=5)  # every merged line counted: no later alert to come
        printed = [line for line in monitor.out if "SUSPICIOUS" in line]
        self.assertEqual(len(printed), 1, monitor.out)
        self.assertIn(expected, printed[0])
        alert_lines = wait_until(
            lambda: read_lines(self.alerts(name)), 5, "an alert in " + self.alerts(name), self.diagnostics
        )
        self.assertEqual(alert_lines, ["11 AlbumMonitor: " + expected])

    def test_traditional_file_format_one_alert(self):
        self.check_one_alert("traditional")

    def test_rsyslog_file_format_one_alert(self):
        self.check_one_alert("fileformat")

    def test_rfc5424_one_alert(self):
        self.check_one_alert("rfc5424")


if __name__ == "__main__":
    unittest.main()
