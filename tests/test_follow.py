"""Following files on real temp files: start position, pieces, rotation, dates, errors.

Each test writes, renames or truncates real files, then runs one poll with an injected clock.
"""

import os
from unittest import mock

from helpers import T0, TempDirTest, append, clf, log_monitor, settings


def poll(follower, now=T0):
    return b"".join(bytes(buf[start:end]) for buf, start, end in follower.poll(now)).decode()


class FollowOneFileTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.dir, "access.log")
        self.follower = log_monitor.Follower(lambda now: self.path, rotated_idle=30)
        self.addCleanup(self.follower.close)

    def test_existing_file_is_read_from_its_end(self):
        append(self.path, "old 1\nold 2\n")
        self.assertEqual(poll(self.follower), "")
        append(self.path, "new 1\n")
        self.assertEqual(poll(self.follower), "new 1\n")

    def test_from_start_reads_existing_lines(self):
        append(self.path, "old 1\n")
        follower = log_monitor.Follower(lambda now: self.path, from_start=True)
        self.addCleanup(follower.close)
        self.assertEqual(poll(follower), "old 1\n")

    def test_file_appearing_later_is_read_from_its_start(self):
        with self.assertLogs("log_monitor", "INFO") as logs:
            self.assertEqual(poll(self.follower), "")
            self.assertEqual(poll(self.follower), "")
            append(self.path, "first\n")
            self.assertEqual(poll(self.follower), "first\n")
        waiting = [r for r in logs.output if "Waiting for log file: %s" % self.path in r]
        self.assertEqual(len(waiting), 1)

    def test_missing_directory_waits_once(self):
        path = os.path.join(self.dir, "no", "such", "dir", "access.log")
        follower = log_monitor.Follower(lambda now: path)
        usual = os.path.join(self.dir, "not", "here.log")
        with (
            mock.patch.object(log_monitor, "USUAL_ACCESS_LOGS", (usual,)),
            self.assertLogs("log_monitor", "INFO") as logs,
        ):
            for i in range(5):
                self.assertEqual(poll(follower, T0 + i), "")
        self.assertEqual(logs.output[0], "INFO:log_monitor:Waiting for log file: %s" % path)
        self.assertEqual(len(logs.output), 2, logs.output)  # and once a hint: no access log nearby
        self.assertIn("Hint: no access log in %s" % os.path.dirname(path), logs.output[1])
        os.makedirs(os.path.dirname(path))
        append(path, "hello\n")
        self.assertEqual(poll(follower), "hello\n")
        follower.close()

    def test_a_line_in_pieces_is_handed_out_once_complete(self):
        poll(self.follower)
        append(self.path, "10.0.0.1 - - [09/Jul")
        self.assertEqual(poll(self.follower), "")
        append(self.path, '/2025:14:30:25 +0900] "GET /x"')
        self.assertEqual(poll(self.follower), "")
        append(self.path, " 200 1\nnext")
        self.assertEqual(poll(self.follower), '10.0.0.1 - - [09/Jul/2025:14:30:25 +0900] "GET /x" 200 1\n')
        append(self.path, "\n")
        self.assertEqual(poll(self.follower), "next\n")

    def test_rename_and_create_reads_late_writes_then_new_file(self):
        append(self.path, "")
        poll(self.follower)
        append(self.path, "a\n")
        os.rename(self.path, self.path + ".1")
        append(self.path + ".1", "b written after the rename\n")
        append(self.path, "c in the new file\n")
        self.assertEqual(poll(self.follower, T0 + 1), "a\nb written after the rename\nc in the new file\n")
        append(self.path + ".1", "d, a slow request finishing\n")
        append(self.path, "e\n")
        self.assertEqual(poll(self.follower, T0 + 2), "d, a slow request finishing\ne\n")
        # idle for rotated_idle seconds: the old file is let go
        self.assertEqual(poll(self.follower, T0 + 40), "")
        self.assertEqual([f.path for f in self.follower.files()], [self.path])

    def test_copytruncate_reads_again_from_the_start(self):
        append(self.path, "")
        poll(self.follower)
        append(self.path, "one\ntwo\n")
        self.assertEqual(poll(self.follower), "one\ntwo\n")
        with self.assertLogs("log_monitor", "WARNING") as logs:
            with open(self.path, "r+b") as f:
                f.truncate(0)
            append(self.path, "three\n")
            self.assertEqual(poll(self.follower), "three\n")
        self.assertIn("truncated", logs.output[0])

    def test_delete_and_recreate(self):
        append(self.path, "")
        poll(self.follower)
        append(self.path, "one\n")
        os.unlink(self.path)
        with self.assertLogs("log_monitor", "INFO") as logs:
            self.assertEqual(poll(self.follower), "one\n")
            self.assertEqual(poll(self.follower), "")
        self.assertIn("Waiting for log file: %s" % self.path, logs.output[0])
        append(self.path, "two\n")
        self.assertEqual(poll(self.follower), "two\n")

    def test_permission_or_other_open_error_is_reported_once(self):
        os.mkdir(self.path)  # a directory cannot be read as a log: the generic error path
        with self.assertLogs("log_monitor", "WARNING") as logs:
            for i in range(4):
                self.assertEqual(poll(self.follower, T0 + i), "")
        self.assertEqual(len(logs.output), 1)
        self.assertIn("Cannot read log file %s" % self.path, logs.output[0])

    def test_reopen_continues_at_the_same_offset(self):
        append(self.path, "")
        poll(self.follower)
        append(self.path, "one\ntw")
        self.assertEqual(poll(self.follower), "one\n")
        self.follower.reopen()
        append(self.path, "o\n")
        self.assertEqual(poll(self.follower), "two\n")

    def test_sighup_after_a_rename_retires_the_old_file_and_keeps_reading_it(self):
        # logrotate `create` + postrotate `systemctl reload`: Apache's old children still
        # write to the renamed file after the SIGHUP
        append(self.path, "")
        poll(self.follower)
        os.rename(self.path, self.path + ".1")
        append(self.path + ".1", "three\n")
        append(self.path, "four\n")
        self.follower.reopen()
        self.assertEqual(poll(self.follower, T0 + 1), "three\nfour\n")
        append(self.path + ".1", "five, from an old child\n")
        self.follower.reopen()
        self.assertEqual(poll(self.follower, T0 + 2), "five, from an old child\n")
        self.assertEqual(len(self.follower.files()), 2)
        self.assertEqual(poll(self.follower, T0 + 40), "")  # idle rotated_idle: let go
        self.assertEqual([f.identity for f in self.follower.files()], [log_monitor.file_identity(self.path)])


class DatedFilesTest(TempDirTest):
    def test_date_change_finishes_yesterday_then_follows_today(self):
        s = settings("--log-dir", self.dir, "--log-prefix", "ssl_www_log-", "--utc")
        path_for = log_monitor.dated_path(s.log_dir, s.log_prefix, s.date_format, s.utc)
        self.assertEqual(path_for(T0), os.path.join(self.dir, "ssl_www_log-2025-07-09"))
        evening = T0 + 18 * 3600 + 29 * 60  # 2025-07-09 23:59:25 UTC
        yesterday = path_for(evening)
        today = path_for(evening + 60)
        append(yesterday, "")
        follower = log_monitor.Follower(path_for, rotated_idle=30)
        self.addCleanup(follower.close)
        poll(follower, evening)
        append(yesterday, "y1\n")
        self.assertEqual(poll(follower, evening + 30), "y1\n")
        append(yesterday, "y2 written just before midnight\n")
        with self.assertLogs("log_monitor", "INFO") as logs:
            self.assertEqual(poll(follower, evening + 36), "y2 written just before midnight\n")
        self.assertIn("Waiting for log file: %s" % today, logs.output[0])
        append(today, "t1\n")
        append(yesterday, "y3 logged late by a slow request\n")
        self.assertEqual(poll(follower, evening + 40), "y3 logged late by a slow request\nt1\n")
        self.assertEqual(poll(follower, evening + 80), "")
        self.assertEqual([f.path for f in follower.files()], [today])

    def test_a_file_that_appears_in_the_last_moment_of_its_period_is_read(self):
        # rotatelogs makes a period's file when its first line comes: maybe after our last look
        s = settings("--log-dir", self.dir, "--log-prefix", "p-", "--date-format", "%H%M%S", "--utc")
        path_for = log_monitor.dated_path(s.log_dir, s.log_prefix, s.date_format, s.utc)
        follower = log_monitor.Follower(path_for, rotated_idle=30)
        self.addCleanup(follower.close)
        with self.assertLogs("log_monitor", "INFO"):
            self.assertEqual(poll(follower, T0), "")  # its file is not there yet
            append(path_for(T0), "late in its second\n")
            append(path_for(T0 + 1), "the next second\n")
            self.assertEqual(poll(follower, T0 + 1), "late in its second\nthe next second\n")
        self.assertEqual([f.path for f in follower.files()], [path_for(T0), path_for(T0 + 1)])

    def test_local_date_by_default(self):
        s = settings("--log-dir", "/logs/apache")
        path_for = log_monitor.dated_path(s.log_dir, s.log_prefix, s.date_format, s.utc)
        import time

        self.assertEqual(
            path_for(T0), "/logs/apache/ssl_www_log-" + time.strftime("%Y-%m-%d", time.localtime(T0))
        )


class MonitorPassTest(TempDirTest):
    """Monitor.poll_once on real files with injected time; alerts collected in a list."""

    def monitor(self, *argv):
        alerts = []
        s = settings("--log-file", os.path.join(self.dir, "access.log"), *argv)
        monitor = log_monitor.Monitor(s, alerts.append, clock=lambda: T0)
        self.addCleanup(monitor.follower.close)
        return monitor, alerts

    def test_burst_across_rotation_is_one_burst(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        monitor, alerts = self.monitor("--threshold", "4")
        monitor.poll_once(T0)
        append(path, clf("10.0.0.1", T0) + clf("10.0.0.1", T0 + 1))
        monitor.poll_once(T0 + 1)
        os.rename(path, path + ".1")
        append(path + ".1", clf("10.0.0.1", T0 + 2))
        append(path, clf("10.0.0.1", T0 + 3))
        monitor.poll_once(T0 + 2)
        self.assertEqual([(a.client, a.count) for a in alerts], [("10.0.0.1", 4)])

    def test_a_failing_pass_is_reported_once_and_the_loop_goes_on(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        calls = []

        def flaky_alert(alert):
            calls.append(alert)
            if len(calls) <= 2:
                raise RuntimeError("boom")

        s = settings("--log-file", path, "--threshold", "1")
        passes = []
        monitor = log_monitor.Monitor(s, flaky_alert, clock=lambda: T0 + len(passes))

        def sleep(seconds):
            passes.append(seconds)
            append(path, clf("10.0.0.%d" % len(passes), T0 + len(passes)))
            if len(passes) == 4:
                monitor.stop_requested = True

        monitor.sleep = sleep
        with self.assertLogs("log_monitor", "DEBUG") as logs:
            monitor.run()
        errors = [r for r in logs.output if "Error in a pass" in r]
        self.assertEqual(len(errors), 1)
        self.assertEqual(
            len(
                logs.records[
                    [r.getMessage() for r in logs.records].index("traceback of the failed pass")
                ].exc_info
            ),
            3,
        )  # the traceback, at debug level
        self.assertEqual(len(calls), 3)
        self.assertEqual(passes, [1, 1, 1, 1])

    def test_status_says_idle_or_how_far_behind_it_is(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        monitor, _ = self.monitor()
        monitor.poll_once(T0)
        self.assertIn("; idle 0s", monitor.status_line(T0))
        self.assertIn("; idle 7s", monitor.status_line(T0 + 7))  # nothing unread: idle, never behind
        append(
            path,
            clf("10.0.0.1", T0 + 100, path="/index.html")
            + "garbage\n"
            + clf("10.0.0.2", T0 + 90, path="/today_download")
            + clf("10.0.0.3", T0 + 101, path="/"),
        )
        monitor.poll_once(T0 + 130)
        status = monitor.status_line(T0 + 135)
        self.assertIn("; idle 5s", status)  # since the last pass that read a line
        self.assertIn("lines read 4, matching 1", status)
        self.assertIn("skipped 0", status)
        unread = clf("10.0.0.4", T0 + 131)
        append(path, unread)  # written, not read yet: behind, by the last line read (T0 + 101)
        self.assertIn(
            "; behind %d bytes unread, log time 34s behind" % len(unread), monitor.status_line(T0 + 135)
        )
        append(path, clf("10.0.0.9", T0 + 130).rstrip("\n") + "x" * log_monitor.MAX_LINE_BYTES)  # never ends
        with self.assertLogs(log_monitor.log, "WARNING") as said:
            monitor.poll_once(T0 + 131)
        self.assertIn("1 line cut at MAX_LINE_BYTES (65536) as read", said.output[0])  # said once
        self.assertIn("lines read 6, matching 3", monitor.status_line(T0 + 131))  # its head counts
        self.assertIn("skipped 0", monitor.status_line(T0 + 131))

    def test_clock_stepped_back_does_not_stall_cleanup(self):
        monitor, _ = self.monitor("--cleanup-interval", "300", "--window", "60")
        monitor.poll_once(T0)
        monitor.detector.window.add("10.0.0.1", T0 - 10000)
        monitor.detector.window.add("10.0.0.2", T0)
        monitor.poll_once(T0 - 3600)  # NTP stepped the clock back an hour
        self.assertEqual(list(monitor.detector.window.clients), ["10.0.0.2"])

    def test_cleanup_runs_every_cleanup_interval(self):
        monitor, _ = self.monitor("--cleanup-interval", "300", "--window", "60")
        monitor.poll_once(T0)
        monitor.detector.window.add("10.0.0.1", T0)
        monitor.detector.window.add("10.0.0.2", T0 + 200)
        monitor.poll_once(T0 + 299)
        self.assertEqual(len(monitor.detector.window.clients), 2)
        monitor.poll_once(T0 + 300)
        self.assertEqual(list(monitor.detector.window.clients), ["10.0.0.2"])
