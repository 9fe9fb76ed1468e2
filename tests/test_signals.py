"""Signals from the script's first line on: none that the daemon handles is ever fatal or lost.

logrotate's postrotate may send SIGHUP, and an operator SIGUSR1 or SIGTERM, while the daemon is
still importing and setting up. Each test waits until the script's first line has run (the
signals show as blocked in /proc), then signals at once, during the set-up.
"""

import os
import signal
import time
import unittest

from helpers import TempDirTest


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
        """A daemon signalled as soon as its first line has run; the Daemon."""
        d = self.daemon("--log-dir", self.dir, "--dry-run", "--interval", "30")
        deadline = time.monotonic() + 10
        while signal.SIGHUP not in (blocked_signals(d.proc.pid) or set()):
            self.assertIsNone(d.proc.poll(), "the daemon ended before its first line: %s" % d.err)
            self.assertLess(time.monotonic(), deadline)
        d.proc.send_signal(signum)
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
