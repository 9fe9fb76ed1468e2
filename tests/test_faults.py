"""The faults real servers produce (issue 8), each reproduced with real files, processes and
signals: rotation and SIGHUP, restarts across rotation, clock steps, a stalled alert path,
odd files, skewed and stale times, odd dates, pipes, and a syslog that comes and goes.
"""

import fcntl
import gzip
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import unittest

from helpers import (
    unstamped,
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
    log_monitor,
    parse_datagram,
    run_together,
    script_argv,
    settings,
    wait_until,
)

FAST = ("--interval", "0.02")  # passes 20 ms apart: a test waits little for the next one
HAVE_LOGGER = shutil.which("logger") is not None


def unread_bytes(fd):
    """Bytes written to the pipe fd and not read yet from its other end (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def lines_of(follower, now):
    return b"".join(bytes(buf[start:end]) for buf, start, end in follower.poll(now)).decode()


class Drain:
    """Receives every datagram on a bound socket in a thread, as a syslog daemon would."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.got = []
        self.arrived = threading.Condition()
        self.closing = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                datagram = self.sock.recv(65536).decode("utf-8", "replace")
            except OSError:
                return
            if self.closing:  # close() woke the recv
                return
            with self.arrived:
                self.got.append(datagram)
                self.arrived.notify_all()

    def wait(self, count, timeout=10):
        """The datagrams received, once there are count of them or after timeout seconds."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.got) >= count, timeout)
            return list(self.got)

    def close(self):
        """Stop the thread and close the socket. A close alone would not wake the thread's
        recv: it would stay blocked for the rest of the run."""
        self.closing = True
        self.sock.shutdown(socket.SHUT_RDWR)  # recv returns
        self.thread.join(5)
        self.sock.close()


class LosingLinesTest(TempDirTest):
    def test_1_sighup_after_a_rename_keeps_reading_the_renamed_file(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        d = self.daemon("--log-file", path, "--dry-run", *FAST)
        d.wait_for("Following %s" % path)
        append(path, burst("10.0.0.1", 5, RECENT))
        os.rename(path, path + ".1")  # logrotate `create`, then postrotate reload
        append(path, "")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_passes(1)  # a whole pass after the SIGHUP: the re-open is done
        d.wait_for("SIGHUP: checking the log's name and opening it again")  # said, for a postrotate's log
        append(path + ".1", burst("10.0.0.1", 5, RECENT + 30))  # Apache's old children
        d.wait_for(EXPECTED % ("10.0.0.1", 10), where="out")
        self.assertEqual(d.stop(), 0)

    def test_2_restart_after_copytruncate_while_stopped_reads_the_new_content(self):
        path, state = os.path.join(self.dir, "access.log"), os.path.join(self.dir, "state")
        append(path, "")
        args = ("--log-file", path, "--state-file", state, "--dry-run", *FAST)
        d = self.daemon(*args)
        d.wait_for("Following %s" % path)
        append(path, burst("10.0.0.1", 5, RECENT))
        d.wait_read(5)
        self.assertEqual(d.stop(), 0)
        with open(path, "r+b") as f:  # copytruncate while stopped, then more lines:
            f.truncate(0)  # the file is longer than the saved offset
        append(path, burst("10.0.0.2", 10, RECENT + 100))
        d = self.daemon(*args)
        d.wait_for("changed since offset")
        d.wait_for(EXPECTED % ("10.0.0.2", 10), where="out")
        self.assertEqual(d.stop(), 0)

    def test_2_one_changed_file_is_read_again_and_the_others_resume(self):
        path = os.path.join(self.dir, "access.log")
        other = path + ".1"
        append(other, burst("10.0.0.1", 4))
        append(path, burst("10.0.0.1", 4))
        state = log_monitor.StateFile(os.path.join(self.dir, "state"), path)
        files = [log_monitor.LogFile.open(p, at_end=True) for p in (other, path)]
        state.save(files, T0 + 20)
        for f in files:
            f.handle.close()
        with open(path, "r+b") as f:  # the same inode, new content, longer than before
            f.truncate(0)
        append(path, burst("10.0.0.9", 9))
        with self.assertLogs("log_monitor", "WARNING") as logs:
            opened, log_time, _ = state.resume()
        self.addCleanup(lambda: [f.handle.close() for f in opened])
        self.assertEqual(log_time, T0 + 20)
        self.assertEqual([(f.path, f.offset) for f in opened], [(other, os.path.getsize(other)), (path, 0)])
        self.assertIn("changed since offset", logs.output[0])

    def test_2_copytruncate_regrown_past_the_offset_between_two_polls(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        follower = log_monitor.Follower(lambda now: path)
        self.addCleanup(follower.close)
        lines_of(follower, T0)
        append(path, "one\ntwo\n")
        self.assertEqual(lines_of(follower, T0), "one\ntwo\n")
        with open(path, "r+b") as f:
            f.truncate(0)
        append(path, "three\nfour\nfive\n")  # longer than before the truncation
        with self.assertLogs("log_monitor", "WARNING"):
            self.assertEqual(lines_of(follower, T0), "three\nfour\nfive\n")

    def test_3_clock_stepped_back_across_midnight_never_counts_a_file_twice(self):
        s = settings("--log-dir", self.dir, "--utc", "--threshold", "10")
        path_for = log_monitor.dated_path(s.log_dir, s.log_prefix, s.date_format, s.utc)
        evening = T0 + 18 * 3600 + 29 * 60  # 23:59:25 UTC
        yesterday, today = path_for(evening), path_for(evening + 60)
        append(yesterday, "")
        alerts = []
        monitor = log_monitor.Monitor(s, alerts.append)
        self.addCleanup(monitor.follower.close)
        monitor.poll_once(evening)
        append(yesterday, burst("10.0.0.1", 6, evening - 30))
        monitor.poll_once(evening + 1)
        append(today, "")
        monitor.poll_once(evening + 60)  # midnight: today's file, yesterday's retiring
        monitor.poll_once(evening - 3000)  # NTP steps the clock back to yesterday
        monitor.poll_once(evening + 61)
        self.assertEqual(monitor.detector.parser.matches, 6)
        self.assertEqual(alerts, [])
        self.assertEqual(sorted(f.path for f in monitor.follower.files()), sorted([today, yesterday]))


class NeverStuckTest(TempDirTest):
    def offenders(self, n, start=RECENT):
        return "".join(clf("10.1.%d.%d" % (i // 200, i % 200), start) for i in range(n))

    def test_4_a_hung_logger_costs_one_timeout_not_one_per_alert(self):
        drain = Drain(os.path.join(self.dir, "log.sock"))
        self.addCleanup(drain.close)
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        env = dict(os.environ, PATH=fake_logger(self.dir, "exec %s 60" % shutil.which("sleep")))
        d = self.daemon(
            "--log-file",
            path,
            "--syslog-socket",
            drain.sock.getsockname(),
            "--threshold",
            "1",
            *FAST,
            env=env,
            config={"LOGGER_TIMEOUT": 0.3},
        )
        d.wait_for("Following")
        started = time.monotonic()
        append(path, self.offenders(15))
        d.wait_for("SUSPICIOUS", where="out", count=15, timeout=3)  # stdout at once
        self.assertEqual(len(drain.wait(15, timeout=5)), 15)
        self.assertLess(time.monotonic() - started, 3)  # one 0.3 s timeout, not 15 (4.5 s)
        d.wait_for("no answer within")  # stderr comes through its own pipe: it may lag the datagrams
        append(path, self.offenders(1, RECENT + 1).replace("10.1.", "10.2."))
        started = time.monotonic()
        self.assertEqual(d.stop(), 0)
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertEqual(sum("no answer within" in line for line in d.err), 1)  # every line read by now

    def test_4_a_full_syslog_socket_neither_spins_nor_blocks_sigterm(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # bound, never read
        sock.bind(os.path.join(self.dir, "full.sock"))
        self.addCleanup(sock.close)
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        env = dict(os.environ, PATH=self.dir)  # no logger: the fallback datagram
        d = self.daemon(
            "--log-file", path, "--syslog-socket", sock.getsockname(), "--threshold", "1", *FAST, env=env
        )
        d.wait_for("Following")
        append(path, self.offenders(40))
        d.wait_for("SUSPICIOUS", where="out", count=40, timeout=3)
        cpu_before = self.cpu_seconds(d.proc.pid)
        time.sleep(0.3)  # a spinning loop burns most of it; waiting costs a few ms
        self.assertLess(self.cpu_seconds(d.proc.pid) - cpu_before, 0.08)  # waiting, not spinning
        started = time.monotonic()
        self.assertEqual(d.stop(), 0)
        self.assertLess(time.monotonic() - started, 2.5)
        self.assertTrue(any("not delivered to syslog" in line for line in d.err), d.err)

    def test_4_a_stdout_nobody_reads_blocks_neither_syslog_nor_the_log_nor_sigterm(self):
        drain = Drain(os.path.join(self.dir, "log.sock"))
        self.addCleanup(drain.close)
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        env = dict(os.environ, PATH=self.dir)
        proc = subprocess.Popen(
            script_argv(
                ["--log-file", path, "--syslog-socket", drain.sock.getsockname(), "--threshold", "1", *FAST]
            ),
            stdout=subprocess.PIPE,  # never read
            stderr=subprocess.PIPE,
            env=env,
        )
        self.addCleanup(proc.kill)
        err = []  # stderr is read: only stdout is left unread
        pump = threading.Thread(target=err.extend, args=(proc.stderr,), daemon=True)
        pump.start()
        wait_until(lambda: any(b"Following" in line for line in err), 10, "the Following line on stderr")
        append(path, self.offenders(800))  # about 90 KB of alert lines: the pipe is full
        self.assertEqual(len(drain.wait(800, timeout=10)), 800)
        append(path, clf("10.9.9.9", RECENT + 5))
        self.assertEqual(len(drain.wait(801, timeout=5)), 801)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(5), 0)
        self.assertLess(time.monotonic() - started, 2.5)
        proc.stdout.close()
        pump.join(5)
        proc.stderr.close()

    @staticmethod
    def cpu_seconds(pid):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @unittest.skipUnless(HAVE_LOGGER, "util-linux logger is not installed")
    def test_5_alerts_need_no_writable_temporary_directory(self):
        drain = Drain(os.path.join(self.dir, "log.sock"))
        self.addCleanup(drain.close)
        sender = log_monitor.SyslogSender("user.error", "AlbumMonitor", drain.sock.getsockname())
        old = tempfile.tempdir
        tempfile.tempdir = os.path.join(self.dir, "no", "such", "dir")  # what a full or read-only /tmp gives
        self.addCleanup(setattr, tempfile, "tempdir", old)
        with self.assertLogs("log_monitor", "DEBUG") as logs:  # assertNoLogs is 3.10+
            log_monitor.log.debug("sending")
            self.assertTrue(sender.send("one"))
        self.assertEqual([r.getMessage() for r in logs.records if r.levelno >= 40], [])
        self.assertEqual(parse_datagram(drain.wait(1)[0])[2], "one")

    def test_5_a_failing_alert_never_drops_the_others_nor_the_stdout_line(self):
        class Broken:
            running = []

            def __init__(self):
                self.calls = 0

            def send(self, message, now):
                self.calls += 1
                if self.calls == 1:
                    raise RuntimeError("boom")
                return True

        courier = log_monitor.Courier(Broken(), retry_seconds=0.05)
        courier.start()
        printed = []
        alerting = log_monitor.Alerting(
            "today_download", 600, courier=courier, out=printed.append, stale_after=600, clock=lambda: T0
        )
        with self.assertLogs("log_monitor", "ERROR"):
            for i in range(3):
                alerting.send(log_monitor.Alert("10.0.0.%d" % i, 10, T0))
            deadline = time.monotonic() + 5
            while courier.pending and time.monotonic() < deadline:  # retried after 0.05 s
                time.sleep(0.01)
            self.assertEqual(courier.close(5), 0)
        self.assertEqual(len(printed), 3)
        self.assertEqual(courier.sender.calls, 4)  # the first again, then the other two

    def test_6_a_fifo_at_the_log_path_is_reported_once_and_retried(self):
        path = os.path.join(self.dir, "access.log")
        os.mkfifo(path)
        d = self.daemon("--log-file", path, "--dry-run", *FAST)
        d.wait_for("Cannot read log file %s: not a regular file; retrying" % path)
        d.wait_passes(2)  # retried, and not said again
        os.unlink(path)
        append(path, "")
        d.wait_for("Following %s" % path)
        append(path, burst("10.0.0.1", 10, RECENT))
        d.wait_for("SUSPICIOUS", where="out")
        os.unlink(path)
        os.mkfifo(path)  # back to a FIFO: SIGTERM still works at once
        d.wait_for("not a regular file", count=2)  # seen, and not opened (that would block)
        d.wait_passes(1)  # and the passes go on
        started = time.monotonic()
        self.assertEqual(d.stop(), 0)
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertEqual(sum("not a regular file" in line for line in d.err), 2)


class NeverBlindTest(TempDirTest):
    def monitor(self, *argv):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        alerts = []
        monitor = log_monitor.Monitor(settings("--log-file", path, *argv), alerts.append)
        self.addCleanup(monitor.follower.close)
        monitor.poll_once(T0)
        return monitor, path, alerts

    def test_7_one_line_from_the_future_does_not_blind_the_monitor(self):
        monitor, path, alerts = self.monitor()
        with self.assertLogs("log_monitor", "WARNING") as logs:
            for ahead in (9 * 3600, 15 * 60):  # a VM clock in local time, an NTP step
                append(path, clf("10.0.0.2", T0 + ahead))
                monitor.poll_once(T0 + 1)
                self.assertIn("newest line %ds ahead" % (ahead - 1), monitor.status_line(T0 + 1))
        self.assertEqual(len(logs.output), 1)
        self.assertIn("8h59m ahead of the clock", logs.output[0])
        append(path, burst("10.0.0.1", 10, T0 + 2, step=1))
        monitor.poll_once(T0 + 12)
        self.assertEqual([(a.client, a.count) for a in alerts], [("10.0.0.1", 10)])
        status = monitor.status_line(T0 + 12)
        self.assertIn("late 0, ahead of the clock 2", status)
        self.assertIn("; idle 0s", status)  # every line read; none is ahead of the clock now
        self.assertNotIn("ahead of the clock,", status)

    @unittest.skipUnless(HAVE_LOGGER, "util-linux logger is not installed")
    def test_8_a_stale_burst_is_printed_with_its_age_and_not_paged(self):
        receiver = self.receiver()
        path = os.path.join(self.dir, "access.log")
        append(path, burst("10.0.0.1", 10, RECENT - 7200))  # two hours old
        d = self.daemon("--log-file", path, "--from-start", "--syslog-socket", receiver.path, *FAST)
        line = d.wait_for("SUSPICIOUS", where="out")[0]
        self.assertIn(EXPECTED % ("10.0.0.1", 10) + " (logged 2h", line)
        self.assertTrue(line.endswith(" ago: not sent to syslog)"), line)
        append(path, burst("10.0.0.2", 10, RECENT))
        self.assertEqual(parse_datagram(receiver.receive())[2], EXPECTED % ("10.0.0.2", 10))
        self.assertEqual(d.stop(), 0)

    def test_9_parallel_downloads_longer_than_the_window_alert_in_replay_and_live(self):
        path = os.path.join(self.dir, "access.log")
        # 10 downloads started a second apart, each logged when it ends 12 minutes later,
        # after other traffic that was logged at once
        append(
            path,
            clf("10.0.0.8", T0 + 720, path="/")
            + clf("10.0.0.9", T0 + 721)
            + burst("10.0.0.1", 10, T0 + 1, step=1),
        )
        done = subprocess.run(script_argv(["--replay", path]), capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 0, done.stderr)
        replayed = [line for line in done.stdout.splitlines() if "SUSPICIOUS" in line]
        self.assertEqual([line.split(" ", 1)[1] for line in replayed], [EXPECTED % ("10.0.0.1", 10)])
        self.assertIn("late lines counted 10", done.stdout)
        d = self.daemon("--log-file", path, "--from-start", "--dry-run", *FAST)
        self.assertEqual(d.wait_for("SUSPICIOUS", where="out")[0].split(" (logged")[0], replayed[0])
        self.assertEqual(d.stop(), 0)

    def test_10_vhost_with_an_ipv6_server_name_counts_the_visitor(self):
        path = os.path.join(self.dir, "access.log")
        append(
            path,
            "".join("::1:80 " + clf("198.51.100.%d" % i, T0 + i) for i in range(10))
            + "".join("::1:80 " + clf("198.51.100.77", T0 + 20 + i) for i in range(10)),
        )
        done = subprocess.run(script_argv(["--replay", path]), capture_output=True, text=True, timeout=30)
        self.assertEqual(
            [line.split(" ", 1)[1] for line in done.stdout.splitlines() if "SUSPICIOUS" in line],
            [EXPECTED % ("198.51.100.77", 10)],
        )


class OddInputTest(TempDirTest):
    def test_12_years_1_and_9999_neither_crash_nor_lose_an_alert(self):
        path = os.path.join(self.dir, "access.log")
        append(
            path,
            burst("10.0.0.1", 10)
            + '10.0.0.2 - - [01/Jan/0001:00:00:00 +2359] "GET /today_download HTTP/1.1" 200 1\n'
            + '10.0.0.3 - - [31/Dec/9999:23:59:59 -2359] "GET /today_download HTTP/1.1" 200 1\n',
        )
        done = subprocess.run(
            script_argv(["--replay", path, "--threshold", "1"]),
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertNotIn("Traceback", done.stderr)
        # the year 9999 is far ahead of the lines around it: counted at the newest log time, and said
        self.assertRegex(done.stdout, r"2025-07-09T\S+ SUSPICIOUS ACTIVITY: IP 10.0.0.3 ")
        self.assertIn("1 matching lines stamped up to", done.stderr)
        printed = []
        alerting = log_monitor.Alerting("x", 600, out=printed.append, stale_after=600)
        for t in (-62135683140, 253402387139):
            alerting.send(log_monitor.Alert("10.0.0.2", 10, t))
        self.assertEqual(len(printed), 2)

    def test_13_many_rotated_files_hold_no_read_buffer(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        follower = log_monitor.Follower(lambda now: path, rotated_idle=3600)
        self.addCleanup(follower.close)
        lines_of(follower, T0)
        for i in range(150):  # size-based rotation, faster than the idle time
            append(path, "line %d\n" % i)
            os.rename(path, "%s.%d" % (path, i))
            append(path, "")
            self.assertEqual(lines_of(follower, T0 + i), "line %d\n" % i)
        self.assertEqual(len(follower.files()), 151)
        self.assertEqual([f for f in follower.files() if f.reader.buffer is not None], [])

    def test_14_replay_from_a_pipe_and_standard_input_compressed_or_not(self):
        path = os.path.join(self.dir, "access.log.gz")
        with gzip.open(path, "wt") as f:
            f.write(burst("10.0.0.1", 10))
        piped = subprocess.run(
            ["bash", "-c", 'exec "${@:2}" --replay <(cat "$1")', "bash", path] + script_argv([]),
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(piped.returncode, 0, piped.stderr)
        self.assertIn(EXPECTED % ("10.0.0.1", 10), piped.stdout)
        with open(path, "rb") as f:
            stdin = subprocess.run(
                script_argv(["--replay", "-"]),
                stdin=f,
                capture_output=True,
                text=True,
                timeout=30,
            )
        self.assertIn(EXPECTED % ("10.0.0.1", 10), stdin.stdout)

    def test_14_ctrl_c_during_a_replay_exits_130_with_one_line(self):
        proc = subprocess.Popen(
            [sys.executable, "-S", SCRIPT, "--replay", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        proc.stdin.write(burst("10.0.0.1", 3))
        proc.stdin.flush()
        # the lines taken from the pipe: the replay is under way (not still starting up)
        wait_until(lambda: unread_bytes(proc.stdin.fileno()) == 0, 10, "the replay reading standard input")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        self.assertEqual((proc.returncode, unstamped(err)), (130, "Replay interrupted\n"))

    def test_15_alerts_wait_for_a_missing_syslog_socket_and_keep_their_time(self):
        sock_path = os.path.join(self.dir, "log.sock")
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        env = dict(os.environ, PATH=self.dir)  # logger or not, the same retry
        d = self.daemon("--log-file", path, "--syslog-socket", sock_path, *FAST, env=env)
        d.wait_for("Following")
        append(path, burst("10.0.0.1", 10, RECENT))
        d.wait_for("SUSPICIOUS", where="out")
        d.wait_for("Syslog socket %s does not exist" % sock_path, count=2)
        drain = Drain(sock_path)  # rsyslog is back
        self.addCleanup(drain.close)
        got = drain.wait(1, timeout=5)
        self.assertEqual(len(got), 1)
        message = parse_datagram(got[0])[2]
        self.assertTrue(message.startswith(EXPECTED % ("10.0.0.1", 10) + " (alert of "), message)
        self.assertTrue(message.endswith(", delivered late)"), message)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()


class ReviewFindingsTest(TempDirTest):
    """Faults found by a hostile review, each reproduced."""

    def test_a_spaced_forwarded_header_cannot_name_another_client(self):
        det = log_monitor.Detector.from_settings(settings("--trusted-proxy", "10.0.0.5", "--threshold", "1"))
        line = '192.0.2.1 x, 198.51.100.7 - - [%s] "GET /today_download HTTP/1.1" 200 1 "-" "-"\n' % clf_time(
            T0
        )
        self.assertEqual([a.client for a in det.feed(line.encode(), None)], ["198.51.100.7"])

    def test_a_time_in_the_user_agent_cannot_hide_a_request(self):
        det = log_monitor.Detector.from_settings(settings("--threshold", "1"))
        line = (
            '203.0.113.66 - - [2026-11-23T10:00:00+0000] "GET /today_download HTTP/1.1" 200 1 "-" '
            '"[01/Jan/2020:00:00:00 +0000] \\"x\\""\n'
        )
        alerts = det.feed(line.encode(), None)
        self.assertEqual([(a.client, a.time) for a in alerts], [("203.0.113.66", 1795428000)])

    def test_a_line_from_the_future_does_not_turn_an_old_backlog_into_fresh_alerts(self):
        path = os.path.join(self.dir, "access.log")
        append(path, clf("10.0.0.2", RECENT + 3600) + burst("198.51.100.7", 10, RECENT - 3 * 3600, step=700))
        d = self.daemon("--log-file", path, "--from-start", "--dry-run", *FAST)
        d.wait_for("Following")
        d.wait_read(11)
        self.assertEqual(d.stop(), 0)
        self.assertEqual([line for line in d.out if "SUSPICIOUS" in line], [])

    def test_a_corrupt_gzip_is_one_line_and_exit_1(self):
        path = os.path.join(self.dir, "bad.log.gz")
        with gzip.open(path, "wt") as f:
            f.write(burst("10.0.0.1", 2000))
        with open(path, "r+b") as f:  # a broken deflate stream: zlib.error, not OSError
            f.seek(os.path.getsize(path) // 2)
            f.write(b"\xff\xff\xff\xff")
        for done in run_together([script_argv(["--replay", path])], timeout=30, text=True):
            self.assertEqual(done.returncode, 1, done.stderr)
            self.assertNotIn("Traceback", done.stderr)
            self.assertIn("Cannot read %s" % path, done.stderr)
