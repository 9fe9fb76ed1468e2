"""Signals from the script's first line on: none that the daemon handles is ever fatal or lost.

logrotate's postrotate may send SIGHUP, and an operator SIGUSR1 or SIGTERM, while the daemon is
still importing and setting up. Each test waits until the script's first line has run (the
signals show as blocked in /proc), then signals at once, during the set-up.
"""

import os
import signal
import time
import unittest
from unittest import mock

import helpers
from helpers import SCRIPT, TempDirTest


def as_a_script(args, config=None, python=None):
    """argv running log_monitor.py as a user does (python3 log_monitor.py ARGS): its first line
    runs as the program's, not as an imported module's."""
    assert config is None
    return [python, SCRIPT] + list(args)


def blocked_signals(pid):
    """The set of signal numbers the process blocks now (from /proc), or None once it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    mask = int(line.split()[1], 16)
                    return {n for n in range(1, 65) if mask & (1 << (n - 1))}
    except OSError:
        return None
    return set()


@unittest.skipUnless(os.path.exists("/proc/self/status"), "needs Linux /proc")
class EarlySignalTest(TempDirTest):
    def start_and_signal(self, signum):
        """A daemon signalled while its first line holds the signals: the Daemon.

        The daemon runs in steps of half a millisecond between SIGSTOPs until /proc shows the
        signals blocked, so that no load on the machine makes the test miss that moment; the
        signal is sent while it is stopped there, then it goes on."""
        with mock.patch.object(helpers, "script_argv", as_a_script):
            d = self.daemon(
                "--log-dir", self.dir, "--dry-run", "--interval", "30", spawn=True
            )  # its first line
        pid, deadline = d.proc.pid, time.monotonic() + 10
        os.kill(pid, signal.SIGSTOP)
        while signal.SIGHUP not in (blocked_signals(pid) or set()):
            self.assertIsNone(d.proc.poll(), "the daemon ended before its first line: %s" % d.err)
            self.assertLess(time.monotonic(), deadline, "its first line never blocked the signals")
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.0005)
            os.kill(pid, signal.SIGSTOP)
            time.sleep(0.001)  # stopped by then: /proc shows where it stopped
        os.kill(pid, signum)
        os.kill(pid, signal.SIGCONT)
        return d

    def test_an_early_sighup_is_not_fatal(self):
        d = self.start_and_signal(signal.SIGHUP)
        d.wait_for("Waiting for log file")
        self.assertIsNone(d.proc.poll())
        self.assertEqual(d.stop(), 0)

    def test_an_early_sigusr1_is_answered_with_the_status_line(self):
        d = self.start_and_signal(signal.SIGUSR1)
        d.wait_for("status:")
        self.assertEqual(d.stop(), 0)

    def test_an_early_sigterm_is_a_clean_stop(self):
        d = self.start_and_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(10), 0)
        d.stop()
        self.assertNotIn("Traceback", "\n".join(d.err))


if __name__ == "__main__":
    unittest.main()
