"""Sending alerts: the real logger to a Unix datagram socket the test binds, and every fallback."""

import os
import shutil
import unittest

from helpers import TempDirTest, fake_logger, log_monitor, parse_datagram

MESSAGE = "SUSPICIOUS ACTIVITY: IP 192.0.2.1 accessed today_download 10 times in 10 minutes"


@unittest.skipUnless(shutil.which("logger"), "util-linux logger is not installed")
class RealLoggerTest(TempDirTest):
    def test_logger_delivers_priority_tag_and_text(self):
        receiver = self.receiver()
        sender = log_monitor.SyslogSender("user.error", "AlbumMonitor", receiver.path)
        self.assertTrue(sender.send(MESSAGE))
        self.assertEqual(parse_datagram(receiver.receive()), (11, "AlbumMonitor", MESSAGE))

    def test_other_facility(self):
        receiver = self.receiver()
        sender = log_monitor.SyslogSender("local3.warning", "Mon", receiver.path)
        sender.send(MESSAGE)
        self.assertEqual(parse_datagram(receiver.receive())[:2], (19 * 8 + 4, "Mon"))

    def test_message_is_never_taken_as_options(self):
        receiver = self.receiver()
        sender = log_monitor.SyslogSender("user.error", "AlbumMonitor", receiver.path)
        self.assertEqual(
            sender.command("-n evil.example --tcp"),
            [
                "logger",
                "-p",
                "user.error",
                "-t",
                "AlbumMonitor",
                "--socket",
                receiver.path,
                "--",
                "-n evil.example --tcp",
            ],
        )
        sender.send("-n evil.example --tcp")
        self.assertEqual(parse_datagram(receiver.receive())[2], "-n evil.example --tcp")


class FallbackTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.old_path = os.environ["PATH"]
        self.addCleanup(os.environ.__setitem__, "PATH", self.old_path)

    def use_logger(self, body):
        os.environ["PATH"] = fake_logger(self.dir, body)

    def check_fallback(self, expected_reason, timeout=3):
        receiver = self.receiver()
        sender = log_monitor.SyslogSender("user.error", "AlbumMonitor", receiver.path, timeout=timeout)
        with self.assertLogs("log_monitor", "ERROR") as logs:
            self.assertTrue(sender.send(MESSAGE))
            self.assertTrue(sender.send(MESSAGE + " again"))
        self.assertEqual(parse_datagram(receiver.receive()), (11, "AlbumMonitor", MESSAGE))
        self.assertEqual(parse_datagram(receiver.receive())[2], MESSAGE + " again")
        self.assertEqual(len(logs.output), 1, logs.output)  # once per condition
        self.assertIn("Error calling 'logger': ", logs.output[0])
        self.assertIn(expected_reason, logs.output[0])
        return sender

    def test_logger_missing(self):
        os.environ["PATH"] = self.dir  # no logger here
        self.check_fallback("No such file or directory")

    def test_logger_failing(self):
        self.use_logger('echo "logger: broken" >&2; exit 1')
        self.check_fallback("exit status 1: logger: broken")

    def test_logger_hanging(self):
        # a logger that hangs and leaves a child holding its stderr
        self.use_logger("%s 30 & %s 30" % (shutil.which("sleep"), shutil.which("sleep")))
        self.check_fallback("no answer within 0.1 s", timeout=0.1)

    def test_logger_recovers_and_says_so(self):
        marker = os.path.join(self.dir, "works")
        self.use_logger("[ -e %s ] && exit 0; exit 3" % marker)
        receiver = self.receiver()
        sender = log_monitor.SyslogSender("user.error", "AlbumMonitor", receiver.path)
        with self.assertLogs("log_monitor", "INFO") as logs:
            sender.send(MESSAGE)
            open(marker, "w").close()
            sender.send(MESSAGE)
            sender.send(MESSAGE)
        self.assertEqual(len(logs.output), 2, logs.output)
        self.assertIn("exit status 3", logs.output[0])
        self.assertIn("logger works again", logs.output[1])

    def test_socket_missing_is_reported_once(self):
        sender = log_monitor.SyslogSender("user.error", "AlbumMonitor", os.path.join(self.dir, "no.sock"))
        with self.assertLogs("log_monitor", "ERROR") as logs:
            self.assertFalse(sender.send(MESSAGE))
            self.assertFalse(sender.send(MESSAGE))
        self.assertEqual(len(logs.output), 1)
        self.assertIn("does not exist", logs.output[0])

    def test_socket_refusing(self):
        receiver = self.receiver()
        receiver.close()  # the file stays; nobody reads it: connection refused
        os.environ["PATH"] = self.dir
        sender = log_monitor.SyslogSender("user.error", "AlbumMonitor", receiver.path)
        with self.assertLogs("log_monitor", "ERROR") as logs:
            self.assertFalse(sender.send(MESSAGE))
            self.assertFalse(sender.send(MESSAGE))
        self.assertEqual(len(logs.output), 2, logs.output)  # logger missing; fallback refused
        self.assertIn("Syslog fallback failed too", logs.output[1])
