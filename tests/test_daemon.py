"""End to end: the real script as a process on real files, alerts from the real logger.

Every mode (dated live file, --log-file, --replay, --dry-run), the signals, a
broken syslog, hostile lines and file permissions.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

from helpers import (
    EXPECTED,
    RECENT,
    SCRIPT,
    T0,
    TempDirTest,
    append,
    burst,
    clf,
    clf_time,
    fake_logger,
    parse_datagram,
    script_argv,
)

FAST = ("--interval", "0.02")  # passes 20 ms apart: a test waits little for the next one


class LiveModesTest(TempDirTest):
    @unittest.skipUnless(shutil.which("logger"), "util-linux logger is not installed")
    def test_dated_file_alert_through_logger(self):
        receiver = self.receiver()
        today = os.path.join(self.dir, "ssl_www_log-" + time.strftime("%Y-%m-%d"))
        append(today, burst("192.0.2.50", 12, RECENT))  # before the start: read from the end, not counted
        d = self.daemon("--log-dir", self.dir, "--syslog-socket", receiver.path, *FAST)
        d.wait_for("Following %s" % today)
        append(today, burst("192.168.1.100", 9, RECENT) + clf("10.0.0.9", RECENT))
        d.wait_read(10)  # counted (the 12 lines before the start are not read)
        self.assertIsNone(receiver.receive(timeout=0.1))  # nine requests: no alert on its way
        append(today, clf("192.168.1.100", RECENT + 60))
        self.assertEqual(
            parse_datagram(receiver.receive()), (11, "AlbumMonitor", EXPECTED % ("192.168.1.100", 10))
        )
        line = d.wait_for("SUSPICIOUS", where="out")[0]
        self.assertTrue(line.endswith(EXPECTED % ("192.168.1.100", 10)), line)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(len(d.out), 1, d.out)

    @unittest.skipUnless(shutil.which("logger"), "util-linux logger is not installed")
    def test_log_file_mode_through_rotation(self):
        receiver = self.receiver()
        path = os.path.join(self.dir, "access.log")
        d = self.daemon(
            "--log-file",
            path,
            "--syslog-socket",
            receiver.path,
            "--tag",
            "Album",
            "--facility",
            "local1.crit",
            *FAST,
        )
        d.wait_for("Waiting for log file: %s" % path)
        append(path, burst("2001:db8::7", 5, RECENT))
        d.wait_for("Following %s" % path)
        os.rename(path, path + ".1")
        append(path + ".1", burst("2001:db8::7", 3, RECENT + 100))
        append(path, burst("2001:db8::7", 2, RECENT + 200))
        self.assertEqual(
            parse_datagram(receiver.receive()), (17 * 8 + 2, "Album", EXPECTED % ("2001:db8::7", 10))
        )
        self.assertEqual(d.stop(signal.SIGINT), 0)
        self.assertEqual(len(d.wait_for("Waiting for log file", count=1)), 1)

    def test_waiting_message_once_not_per_poll(self):
        path = os.path.join(self.dir, "ssl_www_log-" + time.strftime("%Y-%m-%d"))
        d = self.daemon("--log-dir", self.dir, "--dry-run", *FAST)
        d.wait_for("Waiting for log file: %s" % path)
        d.wait_passes(3)  # three more polls
        self.assertEqual(d.stop(), 0)
        self.assertEqual(sum("Waiting for log file" in line for line in d.err), 1)

    def test_dry_run_prints_and_never_sends(self):
        receiver = self.receiver()
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        bin_dir = fake_logger(self.dir, "echo called >> %s/logger-called" % self.dir)
        env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"])
        d = self.daemon("--log-file", path, "--dry-run", "--syslog-socket", receiver.path, *FAST, env=env)
        d.wait_for("Following")
        append(path, burst("10.0.0.1", 10, RECENT))
        line = d.wait_for("SUSPICIOUS", where="out")[0]
        self.assertTrue(line.endswith(EXPECTED % ("10.0.0.1", 10)))
        self.assertEqual(d.stop(), 0)  # a daemon delivers what it holds before it exits
        self.assertIsNone(receiver.receive(timeout=0.05))  # so nothing can still be on its way
        self.assertFalse(os.path.exists(os.path.join(self.dir, "logger-called")))

    def test_sigterm_stops_within_a_second_even_with_a_long_interval(self):
        d = self.daemon("--log-dir", self.dir, "--dry-run", "--interval", "30")
        d.wait_for("Waiting for log file")
        started = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - started, 2.0)

    def test_a_status_line_asked_for_right_before_the_stop_is_printed(self):
        d = self.daemon("--log-dir", self.dir, "--dry-run", "--interval", "30")
        d.wait_for("Waiting for log file")
        d.proc.send_signal(signal.SIGUSR1)
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        self.assertTrue(any("status:" in line for line in d.err), d.err)

    def test_sigusr1_prints_a_status_line(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        d = self.daemon("--log-file", path, "--dry-run", *FAST)
        d.wait_for("Following")
        append(path, burst("10.0.0.1", 3, RECENT) + "not matching\n")
        status = d.wait_read(4)  # SIGUSR1 until the status line says the four lines were read
        size = os.path.getsize(path)
        for part in (
            "file %s @ %d" % (path, size),
            "lines read 4",
            "matching 3",
            "tracked clients 1",
            "alerts 0",
        ):
            self.assertIn(part, status)
        self.assertRegex(status, r"; idle \d+s;")  # every byte read
        self.assertEqual(d.stop(), 0)

    def test_sighup_reopens_at_once(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        d = self.daemon("--log-file", path, "--dry-run", "--interval", "30", "--threshold", "2")
        d.wait_for("Following")
        os.rename(path, path + ".1")
        append(path, burst("10.0.0.1", 2, RECENT))
        d.proc.send_signal(signal.SIGHUP)  # without it the next poll is 30 s away
        d.wait_for("SUSPICIOUS", where="out", timeout=5)
        self.assertEqual(d.stop(), 0)

    def test_missing_syslog_socket_is_warned_at_start_and_alerts_still_print(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        missing = os.path.join(self.dir, "nobody-listens.sock")
        d = self.daemon("--log-file", path, "--syslog-socket", missing, *FAST)
        d.wait_for("Syslog socket %s does not exist" % missing)
        d.wait_for("Following %s" % path)  # an existing file is read from its end
        append(path, burst("10.0.0.1", 10, RECENT) + burst("10.0.0.2", 10, RECENT))
        d.wait_for("SUSPICIOUS", where="out", count=2)
        self.assertEqual(d.stop(), 0)


class BrokenSyslogTest(TempDirTest):
    def run_with_logger(self, body, args=(), config=None, spawn=False):
        receiver = self.receiver()
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        env = dict(os.environ, PATH=fake_logger(self.dir, body) if body else self.dir)
        d = self.daemon(
            "--log-file",
            path,
            "--syslog-socket",
            receiver.path,
            *FAST,
            *args,
            env=env,
            config=config,
            spawn=spawn,
        )
        d.wait_for("Following")
        return receiver, path, d

    def test_logger_missing_falls_back_and_keeps_counting(self):
        receiver, path, d = self.run_with_logger(None)
        append(path, burst("10.0.0.1", 10, RECENT))
        self.assertEqual(
            parse_datagram(receiver.receive()), (11, "AlbumMonitor", EXPECTED % ("10.0.0.1", 10))
        )
        append(path, burst("10.0.0.2", 10, RECENT))
        self.assertEqual(parse_datagram(receiver.receive())[2], EXPECTED % ("10.0.0.2", 10))
        d.wait_for("SUSPICIOUS", where="out", count=2)
        self.assertEqual(d.stop(), 0)
        errors = [line for line in d.err if line.startswith("Error calling 'logger': ")]
        self.assertEqual(len(errors), 1, d.err)

    def test_hostile_lines_never_reach_the_logger_command_line(self):
        argv_file = os.path.join(self.dir, "argv")
        receiver, path, d = self.run_with_logger(
            'for a in "$@"; do printf "%%s\\n" "$a"; done >> %s; echo --- >> %s' % (argv_file, argv_file),
            ("--threshold", "3"),
        )
        pwned = os.path.join(self.dir, "pwned")
        # one field, which a shell would run: touch by its full path (PATH holds only logger)
        touch = b"$(%s${IFS}%s)" % (shutil.which("touch").encode(), pwned.encode())
        # three lines of each hostile first field: taken for a client, it would alert (--threshold
        # 3) and be on a logger command line
        hostile = [
            b'10.6.6.6 - - [09/Jul/2025:14:30:25 +0900] "GET /today_download;$(reboot)`id`|rm -rf / '
            b'HTTP/1.1" 200 1 "-p kern.emerg -n evil.example" "--tcp\x00\xff"\n',
            b'-p - - [09/Jul/2025:14:30:25 +0900] "GET /today_download HTTP/1.1" 200 1 "-" "1.2.3.4"\n' * 3,
            (touch + b' - - [09/Jul/2025:14:30:26 +0900] "GET /today_download" 200 1\n') * 3,
            b"\x00" * 100 + b"\n" + b"\xc3\x28" * 1000 + b"\n",
            b"z" * 3000000 + b"today_download\n",
            b'10.6.6.6 - - [09/Jul/2025:14:30:27 +0900] "GET /today_download?x=\\"; -n" 200 1 "-" "-"\n',
            b'10.6.6.6 - - [09/Jul/2025:14:30:28 +0900] "GET /today_download HTTP/1.1" 200 1 "-" "-"\n',
        ]
        # recent log times, so that the alerts are sent, not held back as stale
        hostile = [
            re.sub(
                rb"09/Jul/2025:14:30:2(\d) \+0900",
                lambda m: clf_time(RECENT + int(m.group(1))).encode(),
                line,
            )
            for line in hostile
        ]
        append(path, b"".join(hostile))
        d.wait_for("SUSPICIOUS", where="out")
        append(path, burst("10.0.0.1", 3, RECENT))
        d.wait_for("SUSPICIOUS", where="out", count=2)
        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(pwned), "a shell ran logger with a line's text")
        with open(argv_file) as f:
            calls = f.read().split("---\n")[:-1]
        self.assertEqual(
            calls,
            [
                "-p\nuser.error\n-t\nAlbumMonitor\n--socket\n%s\n--\n%s\n"
                % (receiver.path, EXPECTED % (ip, 3))
                for ip in ("10.6.6.6", "10.0.0.1")
            ],
        )

    def test_a_line_that_never_ends_costs_bounded_memory(self):
        receiver, path, d = self.run_with_logger(None, ("--threshold", "3"), spawn=True)  # our child: wait4
        for _ in range(40):  # 40 MB without a newline, written over several polls
            append(path, b"A" * (1 << 20))
        append(path, b"\n" + burst("10.0.0.1", 3, RECENT).encode())
        self.assertEqual(parse_datagram(receiver.receive(timeout=20))[2], EXPECTED % ("10.0.0.1", 3))
        d.proc.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(d.proc.pid, 0)
        d.proc.returncode = os.waitstatus_to_exitcode(status)
        self.assertEqual(d.proc.returncode, 0)
        self.assertLess(usage.ru_maxrss / 1024, 60)  # the 40 MB line was never held


class ReplayTest(TempDirTest):
    def test_replay_prints_alerts_with_log_time_and_never_calls_logger(self):
        path = os.path.join(self.dir, "old.log")
        append(path, burst("192.168.1.100", 15, step=30) + clf("10.0.0.1"))
        bin_dir = fake_logger(self.dir, "echo called >> %s/logger-called" % self.dir)
        env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"], TZ="UTC")
        done = subprocess.run(
            [sys.executable, "-S", SCRIPT, "--replay", path],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        alerts = [line for line in done.stdout.splitlines() if "SUSPICIOUS" in line]
        self.assertEqual(alerts, ["2025-07-09T05:34:55+00:00 " + EXPECTED % ("192.168.1.100", 10)])
        self.assertFalse(os.path.exists(os.path.join(self.dir, "logger-called")))

    def test_gzip_and_several_files_are_one_log(self):
        import gzip

        first = os.path.join(self.dir, "log.1.gz")
        with gzip.open(first, "wt") as f:
            f.write(burst("10.0.0.1", 6).rstrip("\n"))  # its last line ends with the file
        second = os.path.join(self.dir, "log")
        append(second, burst("10.0.0.1", 4, T0 + 30))
        done = subprocess.run(
            script_argv(["--replay", first, second]),
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn(EXPECTED % ("10.0.0.1", 10), done.stdout)

    def test_ipv6_prefix_and_ignore_ip_flags(self):
        path = os.path.join(self.dir, "access.log")
        append(
            path,
            "".join(clf("2001:db8:1:2::%x" % (i + 1), T0 + i) for i in range(10))
            + burst("192.0.2.1", 10)
            + burst("10.9.8.7", 10),
        )
        flags = ["--ipv6-prefix", "64", "--ignore-ip", "192.0.2.0/24", "--ignore-ip", "10.9.8.7"]
        done = subprocess.run(
            script_argv(["--replay", path] + flags),
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        alerts = [line.split(" ", 1)[1] for line in done.stdout.splitlines() if "SUSPICIOUS" in line]
        self.assertEqual(alerts, [EXPECTED % ("2001:db8:1:2::/64", 10)])

    def test_corrupt_gzip_exits_1(self):
        path = os.path.join(self.dir, "bad.gz")
        append(path, b"\x1f\x8bnot really gzip")
        done = subprocess.run(script_argv(["--replay", path]), capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 1)
        self.assertIn("Cannot read %s" % path, done.stderr)
        self.assertNotIn("Traceback", done.stderr)

    def test_live_and_replay_give_the_same_alerts(self):
        path = os.path.join(self.dir, "access.log")  # generated: out of order, IPv6, referers
        shutil.copy(os.path.join(os.path.dirname(SCRIPT), "examples", "sample_access.log"), path)
        done = subprocess.run(script_argv(["--replay", path]), capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        replayed = [line for line in done.stdout.splitlines() if "SUSPICIOUS" in line]
        self.assertGreater(len(replayed), 3)
        d = self.daemon("--log-file", path, "--from-start", "--dry-run", *FAST)
        d.wait_for("SUSPICIOUS", where="out", count=len(replayed), timeout=30)
        with open(path, "rb") as f:
            d.wait_read(f.read().count(b"\n"), timeout=30)  # every line counted: no alert to come
        self.assertEqual(d.stop(), 0)
        # live, these year-old alerts are printed with their age and not paged
        live = [line for line in d.out if "SUSPICIOUS" in line]
        self.assertEqual([line.split(" (logged ")[0] for line in live], replayed)
        self.assertTrue(all(line.endswith(" ago: not sent to syslog)") for line in live), d.out)
        ended = [line for line in done.stdout.splitlines() if line.startswith("ENDED: ")]
        self.assertEqual([line for line in d.out if line.startswith("ENDED: ")], ended)  # the same episodes


@unittest.skipUnless(hasattr(os, "geteuid"), "POSIX only")
class PermissionTest(TempDirTest):
    def test_permission_denied_is_reported_once_and_retried(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        os.chmod(path, 0)
        os.chmod(self.dir, 0o755)
        preexec, python = None, sys.executable
        if os.geteuid() == 0:  # root reads anything: run the monitor as nobody
            python = "/usr/bin/python3"
            if not os.access(python, os.X_OK) or not all(
                os.stat(p).st_mode & 0o005 == 0o005 for p in self._parents(SCRIPT)
            ):
                self.skipTest("running as root and nobody cannot run /usr/bin/python3 %s" % SCRIPT)

            def preexec():
                os.setgid(65534)
                os.setuid(65534)

        d = self.daemon("--log-file", path, "--dry-run", *FAST, preexec_fn=preexec, python=python)
        d.wait_for("Cannot read log file %s: permission denied" % path)
        d.wait_passes(3)  # retried, and not said again
        os.chmod(path, 0o644)
        d.wait_for("Following %s" % path)
        append(path, burst("10.0.0.1", 10))
        d.wait_for("SUSPICIOUS", where="out")
        self.assertEqual(d.stop(), 0)
        self.assertEqual(sum("permission denied" in line for line in d.err), 1)

    @staticmethod
    def _parents(path):
        path = os.path.dirname(os.path.abspath(path))
        while True:
            yield path
            if path == os.path.dirname(path):
                return
            path = os.path.dirname(path)
