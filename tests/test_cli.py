"""The command line: defaults equal the configuration block, flags override, bad values exit 2."""

import contextlib
import io
import os
import subprocess
import sys
import unittest

from helpers import SCRIPT, TempDirTest, log_monitor, settings


def run(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-S", SCRIPT] + list(args), capture_output=True, text=True, timeout=20, **kwargs
    )


# the settings every run has, in the order of the configuration block
CORE = "log_dir log_prefix date_format utc log_file target interval window threshold cleanup_interval"
CORE = (CORE + " facility tag syslog_socket from_start").split()


def fields(s, names):
    """The values of these settings, in order."""
    return tuple(getattr(s, name) for name in names)


class DefaultsTest(unittest.TestCase):
    def test_defaults_are_the_configuration_block(self):
        s = settings()
        self.assertEqual(
            (
                *fields(s, CORE),
                s.replay,
                s.dry_run,
                s.state_file,
                s.ipv6_prefix,
                s.ignore_ip,
            ),
            (
                log_monitor.LOG_DIR,
                log_monitor.LOG_PREFIX,
                log_monitor.LOG_DATE_FORMAT,
                log_monitor.USE_UTC,
                log_monitor.LOG_FILE,
                log_monitor.TARGET_MESSAGE,
                log_monitor.CHECK_INTERVAL,
                log_monitor.TIME_WINDOW,
                log_monitor.THRESHOLD_COUNT,
                log_monitor.CLEANUP_INTERVAL,
                log_monitor.SYSLOG_FACILITY,
                log_monitor.SYSLOG_TAG,
                log_monitor.SYSLOG_SOCKET,
                False,
                None,
                False,
                log_monitor.STATE_FILE,
                log_monitor.IPV6_PREFIX,
                log_monitor.IGNORE_IPS,
            ),
        )

    def test_the_users_defaults(self):
        self.assertEqual(
            (
                log_monitor.LOG_DIR,
                log_monitor.LOG_PREFIX,
                log_monitor.TARGET_MESSAGE,
                log_monitor.CHECK_INTERVAL,
                log_monitor.TIME_WINDOW,
                log_monitor.THRESHOLD_COUNT,
                log_monitor.CLEANUP_INTERVAL,
                log_monitor.SYSLOG_FACILITY,
                log_monitor.SYSLOG_TAG,
            ),
            ("/logs/apache", "ssl_www_log-", "today_download", 1, 600, 10, 300, "user.error", "AlbumMonitor"),
        )

    def test_flags_override(self):
        s = settings(
            "--log-dir",
            "/d",
            "--log-prefix",
            "p-",
            "--date-format",
            "%Y%m%d",
            "--utc",
            "--log-file",
            "/f.log",
            "--target",
            "dl",
            "--interval",
            "0.5",
            "--window",
            "60",
            "--threshold",
            "3",
            "--cleanup-interval",
            "30",
            "--facility",
            "local0.warning",
            "--tag",
            "T",
            "--syslog-socket",
            "/s",
            "--from-start",
            "--dry-run",
            "--state-file",
            "/st",
            "--ipv6-prefix",
            "64",
            "--ignore-ip",
            "10.0.0.0/8",
            "--ignore-ip",
            "2001:db8::1",
            "--top",
            "3",
        )
        self.assertEqual(
            (
                *fields(s, CORE),
                s.dry_run,
                s.state_file,
                s.ipv6_prefix,
                s.ignore_ip,
                s.top,
            ),
            (
                "/d",
                "p-",
                "%Y%m%d",
                True,
                "/f.log",
                "dl",
                0.5,
                60,
                3,
                30.0,
                "local0.warning",
                "T",
                "/s",
                True,
                True,
                "/st",
                64,
                ["10.0.0.0/8", "2001:db8::1/128"],
                3,
            ),
        )


class CommandLineTest(TempDirTest):
    def test_bad_values_exit_2_with_one_line(self):
        existing = os.path.join(self.dir, "x.log")
        open(existing, "w").close()
        cases = [
            (["--threshold", "0"], "--threshold"),
            (["--threshold", "ten"], "--threshold"),
            (["--window", "0"], "--window"),
            (["--window", "-5"], "--window"),
            (["--interval", "0"], "--interval"),
            (["--cleanup-interval", "0"], "--cleanup-interval"),
            (["--facility", "user.bogus"], "--facility"),
            (["--facility", "nosuch.err"], "--facility"),
            (["--replay", os.path.join(self.dir, "missing.log")], "missing.log"),
            (["--replay", existing, os.path.join(self.dir, "nope.gz")], "nope.gz"),
            (["--replay", self.dir], "cannot read replay file"),
            (["--ipv6-prefix", "129"], "--ipv6-prefix"),
            (["--ignore-ip", "10.0.0.300"], "--ignore-ip"),
            (["--target", ""], "--target"),
            (["--no-such-flag"], "--no-such-flag"),
        ]
        for argv, mention in cases:  # in this process: the same parser, 15 starts fewer
            with self.subTest(argv=argv):
                out, err = io.StringIO(), io.StringIO()
                with (
                    contextlib.redirect_stdout(out),
                    contextlib.redirect_stderr(err),
                    self.assertRaises(SystemExit) as exit,
                ):
                    log_monitor.parse_args(argv)
                self.assertEqual(exit.exception.code, 2)
                self.assertEqual(len(err.getvalue().splitlines()), 1, err.getvalue())
                self.assertIn(mention, err.getvalue())
                self.assertEqual(out.getvalue(), "")
        for argv, mention in cases[:1] + cases[-1:]:  # and as a real process
            done = run(*argv)
            self.assertEqual((done.returncode, done.stdout), (2, ""))
            self.assertEqual(len(done.stderr.splitlines()), 1, done.stderr)
            self.assertIn(mention, done.stderr)

    def test_help_shows_each_default(self):
        done = run("--help")
        self.assertEqual(done.returncode, 0)
        for default in (
            "/logs/apache",
            "ssl_www_log-",
            "%Y-%m-%d",
            "today_download",
            "(default: 1)",
            "(default: 600)",
            "(default: 10)",
            "(default: 300)",
            "user.error",
            "AlbumMonitor",
            "/dev/log",
            "(default: 128)",
        ):
            self.assertIn(default, done.stdout.replace("%%", "%"))
        for flag in (
            "--log-dir",
            "--log-prefix",
            "--date-format",
            "--utc",
            "--log-file",
            "--target",
            "--interval",
            "--window",
            "--threshold",
            "--cleanup-interval",
            "--facility",
            "--tag",
            "--syslog-socket",
            "--from-start",
            "--replay",
            "--dry-run",
            "--version",
            "--state-file",
            "--ipv6-prefix",
            "--ignore-ip",
        ):
            self.assertIn(flag, done.stdout)

    def test_version(self):
        done = run("--version")
        self.assertEqual(
            (done.returncode, done.stdout.strip()), (0, "log_monitor.py " + log_monitor.__version__)
        )
