"""End to end: the systemd notify protocol (sd_notify) of the real script as a process.

With $NOTIFY_SOCKET set (a file system path, or an abstract name written "@name") the
daemon sends datagrams of KEY=VALUE lines to it: READY=1 once its first pass has run,
WATCHDOG=1 every pass, STATUS=<the status line>, and STOPPING=1 when it stops. Unset,
it sends nothing. The tests bind the socket themselves, as systemd does, and read what
arrives.
"""

import os
import socket
import time
import uuid

from helpers import TempDirTest, append, burst, clf

FAST = ("--interval", "0.02")  # passes 20 ms apart: three watchdog pings come within 60 ms


class NotifySocket:
    """systemd's end of sd_notify: a Unix datagram socket bound at address, keeping what arrives.

    wait_for(done, timeout) receives until done() is true; values(key) lists the values
    received for one key, in order; datagrams holds each datagram as its list of lines.
    """

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.datagrams = []

    def wait_for(self, done, timeout):
        """Receive datagrams until done() is true or timeout seconds pass; done()'s last value."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False
            self.datagrams.append(data.decode("utf-8", "replace").split("\n"))
        return True

    def values(self, key, since=0):
        """Values of key in the datagrams from index since on (KEY=VALUE lines)."""
        prefix = key + "="
        return [
            line[len(prefix) :]
            for datagram in self.datagrams[since:]
            for line in datagram
            if line.startswith(prefix)
        ]

    def index_of(self, line):
        """Index of the first datagram holding line, or None."""
        return next((i for i, datagram in enumerate(self.datagrams) if line in datagram), None)

    def close(self):
        self.sock.close()


class NotifyTest(TempDirTest):
    def notify_socket(self, address):
        receiver = NotifySocket(address)
        self.addCleanup(receiver.close)
        return receiver

    def check_protocol(self, receiver, notify_socket, lines_before_start=0):
        """Run the daemon with NOTIFY_SOCKET=notify_socket; check READY, WATCHDOG, STATUS, STOPPING."""
        path = os.path.join(self.dir, "access.log")
        append(path, "".join(clf("192.0.2.%d" % (i + 1)) for i in range(lines_before_start)))
        env = dict(os.environ, NOTIFY_SOCKET=notify_socket)
        d = self.daemon("--log-file", path, "--from-start", "--dry-run", *FAST, env=env)

        self.assertTrue(
            receiver.wait_for(lambda: receiver.index_of("READY=1") is not None, 3.0),
            "no READY=1; received %s; stderr: %s" % (receiver.datagrams, d.err),
        )
        ready = receiver.index_of("READY=1")

        def watchdogs():
            return receiver.values("WATCHDOG", since=ready + 1).count("1")

        self.assertTrue(
            receiver.wait_for(lambda: watchdogs() >= 3, 1.0),
            "fewer than 3 WATCHDOG=1 within 1 s of READY=1: %s" % receiver.datagrams,
        )
        # READY=1 comes after the first pass: a status sent with or after it counts the lines
        # that were in the file at the start
        self.assertTrue(
            receiver.wait_for(lambda: receiver.values("STATUS", since=ready), 1.0),
            "no STATUS= with or after READY=1: %s" % receiver.datagrams,
        )
        status = receiver.values("STATUS", since=ready)[0]
        self.assertIn("lines read %d" % lines_before_start, status)

        self.assertEqual(d.stop(), 0, d.err)
        self.assertTrue(
            receiver.wait_for(lambda: receiver.index_of("STOPPING=1") is not None, 1.0),
            "no STOPPING=1 after SIGTERM: %s" % receiver.datagrams[-3:],
        )
        self.assertEqual(receiver.values("READY").count("1"), 1, receiver.datagrams)
        self.assertGreater(receiver.index_of("STOPPING=1"), ready)

    def test_path_socket(self):
        address = os.path.join(self.dir, "notify.sock")
        self.check_protocol(self.notify_socket(address), address, lines_before_start=3)

    def test_abstract_socket(self):
        name = "log_monitor-test-%d-%s" % (os.getpid(), uuid.uuid4().hex)
        self.check_protocol(self.notify_socket("\0" + name), "@" + name)

    def test_unset_works_without_it(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        d = self.daemon("--log-file", path, "--dry-run", *FAST, env=env)
        d.wait_for("Following %s" % path)
        append(path, burst("10.0.0.1", 10))
        d.wait_for("SUSPICIOUS", where="out")
        self.assertEqual(d.stop(), 0, d.err)
