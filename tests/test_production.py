"""Fitting a production box (issue 11): standard input, --on-alert hooks, --json, and the
help text, on real processes with the real logger sending to a socket the test binds.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

from helpers import EXPECTED, RECENT, SCRIPT, TempDirTest, append, burst, clf, parse_datagram, wait_until

FAST = ("--interval", "0.02")  # passes 20 ms apart: a test waits little for the next one
HAVE_LOGGER = shutil.which("logger") is not None


class StandardInputTest(TempDirTest):
    @unittest.skipUnless(HAVE_LOGGER, "util-linux logger is not installed")
    def test_piped_lines_alert_and_the_end_of_input_exits_0_after_every_alert(self):
        receiver = self.receiver()
        proc = subprocess.Popen(
            [sys.executable, "-S", SCRIPT, "--log-file", "-", "--syslog-socket", receiver.path, *FAST],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.addCleanup(proc.kill)
        proc.stdin.write(burst("10.0.0.1", 10, RECENT).encode())
        proc.stdin.flush()
        self.assertEqual(parse_datagram(receiver.receive(5))[2], EXPECTED % ("10.0.0.1", 10))
        # like Apache at a restart: the last lines, then the pipe closes
        proc.stdin.write((burst("10.0.0.2", 9, RECENT) + clf("10.0.0.2", RECENT + 60)).encode())
        proc.stdin.close()
        with proc.stdout, proc.stderr:
            out, err = proc.stdout.read(), proc.stderr.read()
        self.assertEqual(proc.wait(10), 0, err)
        self.assertEqual(parse_datagram(receiver.receive(5))[2], EXPECTED % ("10.0.0.2", 10))
        self.assertEqual(len([line for line in out.decode().splitlines() if "SUSPICIOUS" in line]), 2)

    def test_a_last_line_without_newline_counts_at_the_end_of_input(self):
        done = subprocess.run(
            [sys.executable, "-S", SCRIPT, "--log-file", "-", "--dry-run", "--threshold", "2", *FAST],
            input=(clf("10.0.0.3", RECENT) + clf("10.0.0.3", RECENT + 1).rstrip("\n")).encode(),
            capture_output=True,
            timeout=10,
        )
        self.assertEqual(done.returncode, 0)
        self.assertIn(b"IP 10.0.0.3 accessed today_download 2 times", done.stdout)

    def test_state_file_with_standard_input_is_refused(self):
        done = subprocess.run(
            [sys.executable, "-S", SCRIPT, "--log-file", "-", "--state-file", os.path.join(self.dir, "s")],
            capture_output=True,
            text=True,
            timeout=10,
        )
        self.assertEqual(done.returncode, 2)
        self.assertEqual(len(done.stderr.splitlines()), 1, done.stderr)
        self.assertIn("--state-file", done.stderr)


class HooksTest(TempDirTest):
    def hook(self, body):
        path = os.path.join(self.dir, "hook.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)
        return path

    def test_on_alert_runs_with_the_fields_as_arguments_never_through_a_shell(self):
        calls = os.path.join(self.dir, "calls")
        hook = self.hook(
            'for a in "$@"; do printf "%%s\\n" "$a"; done >> %s; echo --- >> %s' % (calls, calls)
        )
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        receiver = self.receiver()  # hooks run when alerts are sent: not with --dry-run
        d = self.daemon(
            "--log-file", path, "--syslog-socket", receiver.path, *FAST,
            "--on-alert", "%s add {ip} '{count} in {window}s' {target} {time} {message}" % hook,
            "--on-alert", "%s second {ip} $(touch %s/pwned) ;id" % (hook, self.dir),
        )  # fmt: skip
        d.wait_for("Following")
        append(path, burst("192.0.2.7", 10, RECENT))
        d.wait_for("SUSPICIOUS", where="out")
        wait_until(lambda: self.read(calls).count("---") >= 2, 5, "both hooks run")
        self.assertEqual(d.stop(), 0)
        # checked before the argv: a hook run by a shell (sh -c with the command line, or with
        # the filled-in arguments joined) runs the touch before the hook, so the file exists
        # once the hook has run; with an argument list it is one of the hook's arguments
        self.assertFalse(os.path.exists(os.path.join(self.dir, "pwned")), "a shell ran the hook")
        first, second = self.read(calls).split("---\n")[:2]
        stamp = d.out[0].split(" ", 1)[0]
        message = EXPECTED % ("192.0.2.7", 10)
        self.assertEqual(
            first.splitlines(), ["add", "192.0.2.7", "10 in 600s", "today_download", stamp, message]
        )
        self.assertEqual(
            second.splitlines(), ["second", "192.0.2.7", "$(touch", "%s/pwned)" % self.dir, ";id"]
        )

    @staticmethod
    def read(path):
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def test_a_hung_hook_neither_delays_the_log_nor_sigterm_and_a_failing_one_is_said_once(self):
        sleep = shutil.which("sleep")
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        receiver = self.receiver()
        d = self.daemon(
            "--log-file", path, "--syslog-socket", receiver.path, "--threshold", "1", *FAST,
            "--on-alert", "%s 30" % sleep,
            "--on-alert", self.hook('echo "no route to the gateway" >&2; exit 3'),
            config={"HOOK_TIMEOUT": 0.3},
        )  # fmt: skip
        d.wait_for("Following")
        started = time.monotonic()
        append(path, "".join(clf("10.2.0.%d" % i, RECENT) for i in range(1, 6)))
        d.wait_for("SUSPICIOUS", where="out", count=5, timeout=2)
        self.assertLess(time.monotonic() - started, 1.0)  # five alerts, five hung hooks: no wait
        d.wait_for(": exit status 3: no route to the gateway")
        d.wait_for("no answer within 0.3 s")
        started = time.monotonic()
        self.assertEqual(d.stop(), 0)
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertEqual(sum("exit status 3" in line for line in d.err), 1, d.err)

    def test_a_command_that_cannot_be_split_is_bad_configuration(self):
        done = subprocess.run(
            [sys.executable, "-S", SCRIPT, "--on-alert", "echo 'unclosed"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        self.assertEqual(done.returncode, 2)
        self.assertEqual(len(done.stderr.splitlines()), 1, done.stderr)


class JsonTest(TempDirTest):
    def test_live_alerts_as_json_lines(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        d = self.daemon("--log-file", path, "--dry-run", "--json", *FAST)
        d.wait_for("Following")
        append(path, burst("2001:db8::5", 10, RECENT))
        alert = json.loads(d.wait_for('"client"', where="out")[0])
        self.assertEqual(d.stop(signal.SIGINT), 0)
        self.assertEqual(
            {k: alert[k] for k in ("client", "target", "count", "window", "file")},
            {"client": "2001:db8::5", "target": "today_download", "count": 10, "window": 600, "file": path},
        )
        self.assertRegex(alert["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
        self.assertEqual(alert["message"], EXPECTED % ("2001:db8::5", 10))


class HelpTest(unittest.TestCase):
    def test_help_ends_with_examples_and_the_exit_statuses_everywhere_agree(self):
        done = subprocess.run(
            [sys.executable, "-S", SCRIPT, "--help"], capture_output=True, text=True, timeout=10
        )
        self.assertEqual(done.returncode, 0)
        for example in ("--replay", "--log-file -", "systemctl edit log-monitor"):
            self.assertIn(example, done.stdout.split("examples:")[-1])
        import log_monitor  # noqa: E402  (helpers put it on the path)

        statuses = log_monitor.EXIT_STATUSES
        with open(os.path.join(os.path.dirname(SCRIPT), "README.md"), encoding="utf-8") as f:
            readme = f.read()
        for name, text in (("--help", done.stdout), ("docstring", log_monitor.__doc__), ("README", readme)):
            self.assertTrue(statuses in " ".join(text.split()), "%s does not say: %s" % (name, statuses))


if __name__ == "__main__":
    unittest.main()
