"""From first run to production: a --config file, --print-config, the first start's hint, the
start and stop lines, stamped stderr, --on-alert checked at start, and the systemd unit's use of
/etc/log-monitor.conf. Real processes, real files."""

import contextlib
import io
import os
import re
import shlex
import signal
import subprocess

from helpers import (
    RECENT,
    SCRIPT,
    STDERR_STAMP,
    TempDirTest,
    append,
    burst,
    log_monitor,
    script_argv,
    unstamped,
)

FAST = ("--interval", "0.02")
UNIT = os.path.join(os.path.dirname(SCRIPT), "log-monitor.service")


def run(*args, config=None, **kwargs):
    """log_monitor.py's main() with args as a real process, to its end."""
    return subprocess.run(script_argv(args, config), capture_output=True, text=True, timeout=20, **kwargs)


class ConfigFileTest(TempDirTest):
    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def parse(self, *argv):
        """(exit status, stderr, stdout) of parse_args(argv) in this process."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                log_monitor.parse_args(list(argv))
                code = 0
            except SystemExit as e:
                code = e.code
        return code, unstamped(err.getvalue()), out.getvalue()

    def test_the_file_overrides_the_block_and_a_flag_overrides_the_file_in_the_daemon(self):
        log = self.write("access.log", "")
        conf = self.write(
            "site.conf",
            "# the site's settings\n\n"
            "LOG_FILE = %r\n"
            "THRESHOLD_COUNT = 5      # overridden by --threshold below\n"
            "TIME_WINDOW = 60\n"
            "IGNORE_IPS = ['192.0.2.0/24']\n" % log,
        )
        d = self.daemon("--config", conf, "--threshold", "3", "--dry-run", *FAST, config={"TIME_WINDOW": 900})
        banner = d.wait_for("alerting at")[0]
        self.assertIn("alerting at 3 requests for 'today_download' within 1 minute, reading %s" % log, banner)
        self.assertIn("dry run", banner)
        self.assertIn("config file %s" % conf, banner)
        d.wait_for("Following %s" % log)
        append(log, burst("192.0.2.7", 3, RECENT, step=1) + burst("203.0.113.9", 3, RECENT, step=1))
        d.wait_for("SUSPICIOUS ACTIVITY: IP 203.0.113.9 accessed today_download 3 times in 1 minute", "out")
        self.assertEqual(d.stop(), 0)
        self.assertEqual(len(d.out), 1, d.out)  # the ignored block of the file never alerted
        self.assertEqual(d.unstamped, [])  # every stderr line starts with its ISO 8601 time
        self.assertRegex(d.err[-1], r"^Stopped by SIGTERM after \d+s: lines read 6, matching 3, alerts 1$")

    def test_a_bad_file_is_one_line_naming_the_file_and_line_and_exit_2(self):
        marker = os.path.join(self.dir, "ran")
        cases = [
            (
                "THRESHOLD_COUNT = 3\nTRESHOLD_COUNT = 3\n",
                ":2: unknown setting TRESHOLD_COUNT (THRESHOLD_COUNT?)",
            ),
            ("THRESHOLD_COUNT = 0\n", ":1: THRESHOLD_COUNT must be greater than 0"),
            ("THRESHOLD_COUNT = '10'\n", ":1: THRESHOLD_COUNT must be a number, not '10'"),
            ("TIME_WINDOW = 1.5\n", ":1: TIME_WINDOW must be a whole number, not 1.5"),
            ("USE_UTC = 1\n", ":1: USE_UTC must be True or False, not 1"),
            ("IGNORE_IPS = '10.0.0.1'\n", ":1: IGNORE_IPS must be a list"),
            ("TRUSTED_PROXIES = ['lb.example.com']\n", ":1: TRUSTED_PROXIES not an address or CIDR block"),
            ("LOG_LEVEL = 'LOUD'\n", ":1: LOG_LEVEL not a logging level"),
            ("ON_ALERT = ['/no/such/blocker {ip}']\n", ":1: ON_ALERT program /no/such/blocker is not found"),
            ("WATCH_URLS = ['ftp://example.com/']\n", ":1: WATCH_URLS not an http:// or https:// URL"),
            ("SYSLOG_TAG = None\n", ":1: SYSLOG_TAG must be text in quotes, not None"),
            ("LOG_DIR = /var/log\n", ":1: LOG_DIR: not a value"),
            ("LOG_DIR = __import__('os').mkdir(%r)\n" % marker, ":1: LOG_DIR: not a value"),  # no code runs
            (
                "\n# fine\nTHRESHOLD_COUNT = 3\nTHRESHOLD_COUNT = 4\n",
                ":4: THRESHOLD_COUNT is set already on line 3",
            ),
            ("THRESHOLD_COUNT 3\n", ":1: not NAME = value"),
            ("TARGET_MESSAGE = ''\n", ":1: TARGET_MESSAGE must not be empty"),
        ]
        for text, mention in cases:
            with self.subTest(text=text):
                path = self.write("bad.conf", text)
                code, err, out = self.parse("--config", path)
                self.assertEqual((code, out), (2, ""))
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertTrue(err.startswith("log_monitor.py: error: %s%s" % (path, mention)), err)
        self.assertFalse(os.path.exists(marker))
        for path, why in (
            (os.path.join(self.dir, "missing.conf"), "not found"),
            (self.dir, "is a directory"),
        ):
            code, err, _ = self.parse("--config", path)
            self.assertEqual((code, err), (2, "log_monitor.py: error: %s: %s\n" % (path, why)))
        done = run("--config", self.write("bad.conf", "\nTRESHOLD_COUNT = 3\n"))  # and as a real process
        self.assertEqual((done.returncode, done.stdout), (2, ""))
        self.assertRegex(done.stderr, "^%s" % STDERR_STAMP.pattern)
        self.assertEqual(
            unstamped(done.stderr),
            "log_monitor.py: error: %s/bad.conf:2: unknown setting "
            "TRESHOLD_COUNT (THRESHOLD_COUNT?)\n" % self.dir,
        )

    def test_print_config_says_where_each_value_comes_from_and_reads_back_as_a_file(self):
        conf = self.write("site.conf", "TIME_WINDOW = 300\nWATCH_URLS = ['https://www.example.com/']\n")
        done = run("--config", conf, "--threshold", "20", "--print-config", config={"SYSLOG_TAG": "Album"})
        self.assertEqual((done.returncode, done.stderr), (0, ""))
        rows = {}
        for line in done.stdout.splitlines()[1:]:
            setting, where = line.split("  # ")
            rows[setting.split(" = ")[0]] = (setting.split(" = ", 1)[1].rstrip(), where)
        self.assertEqual(rows["THRESHOLD_COUNT"], ("20", "flag --threshold"))
        self.assertEqual(rows["TIME_WINDOW"], ("300", "file %s:1" % conf))
        self.assertEqual(rows["WATCH_URLS"], ("['https://www.example.com/']", "file %s:2" % conf))
        self.assertEqual(rows["SYSLOG_TAG"], ("'Album'", "block"))
        self.assertEqual(rows["LOG_DIR"], ("'/logs/apache'", "default"))
        self.assertEqual(len(rows), len(log_monitor.CONFIG_NAMES))
        self.assertIn("config file: %s" % conf, done.stdout.splitlines()[0])
        again = self.write("again.conf", done.stdout)  # the output is a config file of its own
        settings = log_monitor.parse_args(["--config", again])
        self.assertEqual((settings.threshold, settings.window, settings.tag), (20, 300, "Album"))

    def test_every_name_of_the_block_is_a_config_name_shipped_as_it_is(self):
        with open(SCRIPT) as f:
            source = f.read()
        block = source.split("# fmt: off\n", 1)[1].split("# fmt: on\n", 1)[0]
        names = [line.split(" = ")[0] for line in block.splitlines() if re.match(r"[A-Z0-9_]+ = ", line)]
        self.assertEqual(names, [name for name, _, _, _ in log_monitor.CONFIG_NAMES])
        for name, attr, _, shipped in log_monitor.CONFIG_NAMES:
            self.assertEqual(getattr(log_monitor, name), shipped, name)  # this repository ships them
            self.assertEqual(getattr(log_monitor.Settings(), attr), shipped, name)

    def test_on_alert_programs_are_checked_at_start(self):
        script = self.write("block.sh", "#!/bin/sh\n")  # there, but not executable
        for command, mention in (
            ("/no/such/blocker {ip}", "program /no/such/blocker is not found"),
            ("no-such-blocker-7 {ip}", "program no-such-blocker-7 is not found on PATH"),
            ("%s {ip}" % script, "program %s is not executable" % script),
            ("'unclosed {ip}", "No closing quotation"),
        ):
            with self.subTest(command=command):
                code, err, _ = self.parse("--on-alert", command)
                self.assertEqual(code, 2)
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn("argument --on-alert: ", err)
                self.assertIn(mention, err)
        self.assertEqual(self.parse("--on-alert", "true {ip}")[0], 0)
        done = run("--log-file", self.write("a.log", ""), "--on-alert", "/no/such/blocker {ip}")
        self.assertEqual(done.returncode, 2)
        self.assertIn("program /no/such/blocker is not found", done.stderr)


class FirstStartTest(TempDirTest):
    def test_a_missing_dated_file_is_followed_once_by_the_logs_that_exist_and_their_flags(self):
        logs = os.path.join(self.dir, "logs")
        os.mkdir(logs)
        for name in ("access.log", "access.log.1.gz", "other_vhost_access.log"):
            append(os.path.join(logs, name), "")
        usual = os.path.join(self.dir, "var-log-nginx-access.log")
        append(usual, "")
        d = self.daemon(
            "--log-dir", logs, "--dry-run", *FAST,
            config={"USUAL_ACCESS_LOGS": [usual, os.path.join(self.dir, "absent.log")]},
        )  # fmt: skip
        d.wait_for("Waiting for log file: %s/ssl_www_log-" % logs)
        d.wait_passes(3)
        hints = [line for line in d.err if line.startswith("Hint:")]
        self.assertIn("does not exist. Logs that do exist nearby, and the flag that follows each:", hints[0])
        flags = sorted(line.split("--log-file ")[1] for line in hints if "--log-file " in line)
        expected = [os.path.join(logs, "access.log"), os.path.join(logs, "other_vhost_access.log"), usual]
        self.assertEqual(flags, sorted(expected))  # not the .gz, not the absent one
        self.assertEqual(len(hints), 5)  # once, not once a pass
        self.assertEqual(d.stop(), 0)

    def test_the_banner_names_state_file_urls_and_no_config_file_and_stdin_ends_with_its_stop_line(self):
        state = os.path.join(self.dir, "state.json")
        proc = subprocess.run(
            script_argv(
                ["--log-file", "-", "--threshold", "2", "--dry-run", "--watch-url", "http://127.0.0.1:9/"]
            ),
            input=burst("203.0.113.5", 2, RECENT),
            capture_output=True,
            text=True,
            timeout=20,
        )
        err = unstamped(proc.stderr).splitlines()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("watching http://127.0.0.1:9/", err[0])
        self.assertIn("state file none", err[0])
        self.assertIn("config file none (the configuration block)", err[0])
        self.assertRegex(
            err[-1], r"^Stopped by the end of standard input after \d+s: lines read 2, matching 2, alerts 1$"
        )
        d = self.daemon(
            "--log-file", os.path.join(self.dir, "a.log"), "--state-file", state, "--dry-run", *FAST
        )
        self.assertIn("state file %s" % state, d.wait_for("alerting at")[0])
        self.assertEqual(d.stop(signal.SIGINT), 0)
        self.assertRegex(d.err[-1], r"^Stopped by SIGINT after \d+s: lines read 0, matching 0, alerts 0$")

    def test_under_journald_stderr_lines_carry_no_time_of_their_own(self):
        err_path = os.path.join(self.dir, "stderr")
        with open(err_path, "w") as err:
            st = os.fstat(err.fileno())
            env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
            subprocess.run(
                script_argv(["--replay", os.path.join(self.dir, "missing.log")]),
                stderr=err,
                env=env,
                timeout=20,
            )
            subprocess.run(script_argv(["--threshold", "0"]), stderr=err, env=env, timeout=20)
        with open(err_path) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 2, lines)
        for line in lines:
            self.assertTrue(line.startswith("log_monitor.py: error: "), line)  # journald stamps it


class UnitConfigTest(TempDirTest):
    def unit_command(self):
        """The unit's ExecStart as an argv, as systemd splits it ($$ is a $)."""
        with open(UNIT) as f:
            line = next(line for line in f if line.startswith("ExecStart="))
        return [arg.replace("$$", "$") for arg in shlex.split(line[len("ExecStart=") :])]

    def test_the_unit_reads_etc_log_monitor_conf_when_it_exists_and_starts_without_it(self):
        argv = self.unit_command()
        self.assertEqual(argv[:2], ["/bin/sh", "-c"])
        conf = os.path.join(self.dir, "log-monitor.conf")
        script = argv[2].replace("/etc/log-monitor.conf", conf)
        python = " ".join(shlex.quote(a) for a in script_argv(["--print-config"]))
        script = script.replace("/usr/bin/python3 /usr/local/bin/log_monitor.py", python)
        self.assertNotEqual(script, argv[2].replace("/etc/log-monitor.conf", conf))
        without = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=20)
        self.assertEqual(without.returncode, 0, without.stderr)
        self.assertIn("STATE_FILE = '/var/lib/log-monitor/state.json'  # flag --state-file", without.stdout)
        self.assertIn("config file: none", without.stdout)
        with open(conf, "w") as f:
            f.write("THRESHOLD_COUNT = 25\n")
        with_file = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=20)
        self.assertEqual(with_file.returncode, 0, with_file.stderr)
        self.assertRegex(with_file.stdout, r"THRESHOLD_COUNT = 25 +# file %s:1" % re.escape(conf))


class ReplayOutputTest(TempDirTest):
    def test_an_unwritable_html_path_is_exit_2_before_anything_is_read(self):
        fifo = os.path.join(self.dir, "never-written")
        os.mkfifo(fifo)  # reading it would block: the check must come first
        for path, why in (
            (os.path.join(self.dir, "no", "such", "report.html"), "not found"),
            (self.dir, "is a directory"),
        ):
            done = run("--replay", fifo, "--html", path)
            self.assertEqual((done.returncode, done.stdout), (2, ""))
            self.assertEqual(
                unstamped(done.stderr), "log_monitor.py: error: cannot write --html %s: %s\n" % (path, why)
            )
        self.assertFalse(os.path.exists(os.path.join(self.dir, "no")))

    def test_quiet_prints_the_alerts_and_where_the_report_went(self):
        log = os.path.join(self.dir, "access.log")
        append(log, burst("203.0.113.5", 10))
        html_path = os.path.join(self.dir, "report.html")
        done = run("--replay", log, "--html", html_path, "--quiet")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual([line for line in done.stdout.splitlines()], [done.stdout.splitlines()[0]])
        self.assertIn("SUSPICIOUS ACTIVITY: IP 203.0.113.5", done.stdout)
        size = os.path.getsize(html_path)
        self.assertEqual(
            unstamped(done.stderr), "Report written to %s (%d KB)\n" % (html_path, -(-size // 1024))
        )
        loud = run("--replay", log, "--html", html_path)
        self.assertIn("Replay summary", loud.stdout)
        self.assertIn("Report written to %s" % html_path, loud.stderr)

    def test_unreadable_inputs_say_why(self):
        cases = [(self.dir, "is a directory"), (os.path.join(self.dir, "gone.log"), "not found")]
        if os.getuid() != 0:  # root reads any file
            locked = os.path.join(self.dir, "locked.log")
            append(locked, "")
            os.chmod(locked, 0)
            cases.append((locked, "permission denied"))
        for path, why in cases:
            done = run("--replay", path)
            self.assertEqual(done.returncode, 2)
            self.assertEqual(
                unstamped(done.stderr),
                "log_monitor.py: error: cannot read replay file %s: %s\n" % (path, why),
            )

    def test_the_reorder_note_is_one_line_naming_the_count_and_the_first_and_last_file(self):
        paths = []
        for i in range(4):  # access.log, access.log.1, ...: a shell's glob puts the newest first
            paths.append(os.path.join(self.dir, "access.log" + (".%d" % i if i else "")))
            append(paths[-1], burst("198.51.100.%d" % i, 3, start=1752039025 - i * 3600))
        done = run("--replay", *paths)
        notes = [line for line in unstamped(done.stderr).splitlines() if "first timestamps" in line]
        self.assertEqual(
            notes,
            [
                "Replay: replayed in the order of their first timestamps: 4 files, %s first and %s last "
                "(given: %s first)" % (paths[3], paths[0], paths[0])
            ],
        )


class RotatedNameTest(TempDirTest):
    def test_a_rotated_file_is_listed_under_its_new_name(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        monitor = log_monitor.Monitor(log_monitor.parse_args(["--log-file", path]), lambda alert: None)
        self.addCleanup(monitor.follower.close)
        monitor.poll_once(1752039025)
        append(path, burst("203.0.113.5", 2))
        os.rename(path, path + ".1")
        append(path, "")
        monitor.poll_once(1752039026)
        self.assertEqual([f.path for f in monitor.log.files()], [path + ".1", path])
        self.assertIn("file %s.1 @ " % path, monitor.status_line(1752039026))
