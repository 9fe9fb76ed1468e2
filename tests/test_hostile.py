"""The lines are written by the people the monitor watches (issue 20): each way a client, a
site or another account could evade the count, frame another address, stall the daemon, grow
its memory or put words in an alert, tried with real files, processes and signals.

Every test here failed on the version before the fix: its comment says how.
"""

import http.server
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import unittest.mock

from helpers import (
    unstamped,
    EXPECTED,
    SCRIPT,
    T0,
    TempDirTest,
    append,
    burst,
    clf,
    clf_time,
    log_monitor,
    script_argv,
    wait_until,
)

HIGH = "\\xff" * 8192  # 8 KB of 0xFF bytes as Apache logs them: four characters each


def padded(ip, t):
    """A Combined line as Apache writes an 8 KB high-byte query, Referer and User-Agent: 73 KB."""
    return '%s - - [%s] "GET /today_download?%s HTTP/1.1" 200 1 "%s" "%s"\n' % (
        ip,
        clf_time(t),
        HIGH,
        HIGH,
        HIGH,
    )


def peak_rss_mb(argv, **kwargs):
    """(exit status, peak RSS in MB, stderr) of argv run to its end (wait4's ru_maxrss)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    return proc.returncode, usage.ru_maxrss / 1024, err.decode("utf-8", "replace")


def replay(*args):
    """subprocess.run of a replay: (exit status, stdout, stderr)."""
    done = subprocess.run(script_argv(list(args)), capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


# ---------------------------------------------------------------- 1. padding: no evasion
class PaddingTest(TempDirTest):
    def test_ten_padded_downloads_of_73_kb_alert(self):
        # before: each line was "over-long", skipped: no alert
        path = os.path.join(self.dir, "access.log")
        append(path, "".join(padded("203.0.113.70", T0 + i) for i in range(10)))
        self.assertGreater(os.path.getsize(path) // 10, 73000)
        status, out, err = replay("--replay", path)
        self.assertEqual(status, 0, err)
        self.assertIn(EXPECTED % ("203.0.113.70", 10), out)

    def test_a_padded_burst_alerts_live(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        d = self.daemon("--log-file", path, "--dry-run", "--interval", "0.05")
        d.wait_for("Following")
        now = int(time.time())
        append(path, "".join(padded("203.0.113.71", now - 20 + i) for i in range(10)))
        d.wait_for(EXPECTED % ("203.0.113.71", 10), where="out")
        self.assertEqual(d.stop(), 0)

    def test_128_mib_without_a_newline_cost_a_few_megabytes_in_replay(self):
        # before: the replay read a piece with readline(): 2.1 GB for a 1 GiB NUL hole, 0.25 GB here
        path = os.path.join(self.dir, "access.log")
        with open(path, "wb") as f:
            f.write(burst("10.0.0.1", 3).encode())
            f.truncate(f.tell() + (128 << 20))  # a hole: 128 MiB of NUL bytes, no newline, no disk
            f.seek(0, 2)
            f.write(b"\n" + burst("203.0.113.72", 10, T0 + 60).encode())
        status, mb, err = peak_rss_mb(script_argv(["--replay", path]))
        self.assertEqual(status, 0, err)
        self.assertLess(mb, 60, "peak RSS %.0f MB" % mb)

    def test_128_mib_without_a_newline_cost_a_few_megabytes_live(self):
        # a gigabyte costs the same (the closing note of issue 20): the suite keeps to 128 MiB
        path = os.path.join(self.dir, "access.log")
        with open(path, "wb") as f:
            f.truncate(1 << 27)
        d = self.daemon("--log-file", path, "--from-start", "--dry-run", "--interval", "0.05")
        d.wait_for("Following")
        d.wait_read(1, timeout=20)  # the hole's first 64 KB, handed out as one line; the rest skipped
        with open("/proc/%d/status" % d.proc.pid) as f:
            peak = [int(line.split()[1]) for line in f if line.startswith("VmHWM:")][0] / 1024
        self.assertEqual(d.stop(), 0)
        self.assertLess(peak, 60, "peak RSS %.0f MB" % peak)


# ---------------------------------------------------------------- 2. the time and the request are %t and %r
FAKE = (
    '198.51.100.9 - a [01/Jan/2099:00:00:00 +0000] \\"GET /today_download\\" [%s] "GET /private/ HTTP/1.1" '
    '401 381 "-" "curl/8"\n'
)


class FieldsTest(TempDirTest):
    def test_a_fake_time_and_request_in_the_user_field_are_not_read(self):
        # before: read as a 2099 request for the target, and the replay's clock jumped 74 years
        parser = log_monitor.LineParser("today_download")
        line = (FAKE % clf_time(T0)).encode()
        fields = log_monitor.line_fields(line, 0, len(line) - 1)
        self.assertEqual((fields.request, fields.status), (b"GET /private/ HTTP/1.1", b"401"))
        self.assertEqual(log_monitor.fields_time(fields), T0)
        self.assertIsNone(parser.request(line, 0, len(line) - 1))  # not a request for the target

    def test_a_replay_goes_on_counting_after_a_line_far_ahead(self):
        # before: one 2099 line made every later line late: no alert
        path = os.path.join(self.dir, "access.log")
        ahead = clf("198.51.100.10").replace(clf_time(T0), "01/Jan/2099:00:00:00 +0000")
        append(path, burst("10.0.0.1", 5) + FAKE % clf_time(T0) + ahead + burst("203.0.113.73", 10, T0 + 10))
        status, out, err = replay("--replay", path)
        self.assertEqual(status, 0, err)
        self.assertIn(EXPECTED % ("203.0.113.73", 10), out)
        self.assertIn("late lines ignored 0", out)
        self.assertIn("1 matching lines stamped up to", err)  # said, as live says it


# ---------------------------------------------------------------- 3. no framing
class FramingTest(TempDirTest):
    def user_lines(self, user, t=T0, n=10):
        return "".join(
            '198.51.100.7 - %s [%s] "GET /today_download HTTP/1.1" 401 381 "-" "x"\n'
            % (user, clf_time(t + i))
            for i in range(n)
        )

    def test_a_user_field_names_no_other_client_and_hides_none(self):
        # before: "x,203.0.113.66 y z" made 203.0.113.66 alert; "a, b" hid the client ("proxied")
        for user in (
            "x,203.0.113.66 y z",
            "a, b",
            "203.0.113.66",
            "- 203.0.113.66 -",
            '\\"x\\" 203.0.113.66,',
        ):
            with self.subTest(user=user):
                path = os.path.join(self.dir, "u%d.log" % len(os.listdir(self.dir)))
                append(path, clf("192.0.2.1", T0 - 1) + self.user_lines(user))  # and another client
                status, out, err = replay("--replay", path, "--trusted-proxy", "10.0.0.0/8")
                self.assertEqual(status, 0, err)
                self.assertIn(EXPECTED % ("198.51.100.7", 10), out)
                self.assertNotIn("203.0.113.66", out.split("Replay summary")[0])

    def test_a_forwarded_list_a_client_began_with_a_dash_still_names_the_proxy_s_entry(self):
        # a layout logging X-Forwarded-For in place of %h: a header "- 203.0.113.66" must not
        # make the line look like AWS's "- %h" and hide the client the proxy appended
        parser = log_monitor.LineParser("today_download", trusted=["10.0.0.0/8"])
        line = (
            b'- 203.0.113.66, 198.51.100.7 - - [%s] "GET /today_download HTTP/1.1" 200 1'
            % clf_time(T0).encode()
        )
        self.assertEqual(parser.request(line, 0, len(line))[:3], ("198.51.100.7", T0, b"200"))

    def test_a_syslog_header_a_client_wrote_in_x_forwarded_for_hides_no_address(self):
        # before (the hostile review of issue 22): AWS's layout starts with the X-Forwarded-For a
        # client began; "Jul  9 05:00:00 a" + the balancer's ", 198.51.100.1" read as a syslog
        # header whose tag was the client's address: 0 matching requests, all "proxied"
        cases = [
            ("Jul  9 05:00:00 a", "%s, %s 10.0.0.5 - -"),  # AWS: X-Forwarded-For, then %h
            ("<1>1 a b c d", "%s, %s - -"),  # X-Forwarded-For logged in place of %h
            ("2025-07-09T05:00:00Z a", "%s, %s 10.0.0.5 - -"),
            ("Jul  9 05:00:00 a", "%s, %s - -"),
            ("Jul  9 05:00:00 web1 apache: x", "%s, %s 10.0.0.5 - -"),  # a whole header
        ]
        # and a client that reaches the server directly: its own X-Forwarded-For, then its address
        # as %h; a header it wrote there took in %h (the second look)
        cases += [
            (written, "%s %s - -")
            for written in ("Jul  9 05:00:00 a", "Jul  9 05:00:00", "<1>1 a b c d", "2025-07-09T05:00:00Z a")
        ]
        path = os.path.join(self.dir, "headers.log")
        line = '%s [%s] "GET /today_download HTTP/1.1" 200 1 "-" "x"\n'
        for n, (written, layout) in enumerate(cases, 1):
            append(path, line % (layout % (written, "198.51.100.%d" % n), clf_time(T0 + n)) * 10)
        status, out, err = replay("--replay", path, "--trusted-proxy", "10.0.0.0/8")
        self.assertEqual(status, 0, err)
        for n, case in enumerate(cases, 1):
            self.assertIn(EXPECTED % ("198.51.100.%d" % n, 10), out, case)
        self.assertIn("matching requests  %d" % (10 * len(cases)), out)

    def test_address_dash_a_client_wrote_before_or_after_h_frames_and_hides_no_one(self):
        # before (the second hostile review of issue 22): %l was the first "-" after the first
        # field, so "203.0.113.99 - x" in X-Forwarded-For (AWS's layout) made 203.0.113.99 alert,
        # "x - y" hid the client, and "x 203.0.113.99 - y" named 203.0.113.99 as %h
        line = '%s [%s] "GET /today_download HTTP/1.1" 200 1 "-" "x"\n'
        ordinary = "".join(line % ("192.0.2.%d 10.0.0.5 - -" % i, clf_time(T0)) for i in (1, 2))
        written = ["203.0.113.99 - x", "x - y", "x 203.0.113.99 - y", "127.0.0.1 - x", "- 10.0.0.6 - x"]
        written.append("203.0.113.99 -" + " " * 100 + "x")  # more spaces than a line is split at
        written.append("Jul  9 05:00:00 web1 apache: 203.0.113.99 - x")  # a syslog header of no server
        path = os.path.join(self.dir, "aws.log")
        append(path, ordinary)  # another client's requests, as in any log
        for n, xff in enumerate(written, 1):
            # AWS's; X-Forwarded-For as %h, joined by the balancer with a space or without
            for k, layout in enumerate(("%s, %s 10.0.0.5 - -", "%s, %s - -", "%s,%s - -")):
                client = "198.51.100.%d" % (3 * n + k)
                append(path, "".join(line % (layout % (xff, client), clf_time(T0 + i)) for i in range(10)))
        append(path, ordinary)
        status, out, err = replay("--replay", path, "--trusted-proxy", "10.0.0.0/8")
        self.assertEqual(status, 0, err)
        alerts = sorted(line.split(" IP ")[1].split()[0] for line in out.splitlines() if "SUSPICIOUS" in line)
        self.assertEqual(
            alerts,
            sorted("198.51.100.%d" % (3 * n + k) for n in range(1, len(written) + 1) for k in (0, 1, 2)),
        )
        self.assertIn("matching requests  %d" % (4 + 10 * 3 * len(written)), out)
        # and a client that reaches the server directly, its own address as %h (no balancer)
        path = os.path.join(self.dir, "direct.log")
        append(path, line % ("- 192.0.2.1 - -", clf_time(T0)))
        append(
            path, "".join(line % ("203.0.113.99 - x 198.51.100.8 - -", clf_time(T0 + i)) for i in range(10))
        )
        status, out, err = replay("--replay", path)
        self.assertEqual(status, 0, err)
        self.assertIn(EXPECTED % ("198.51.100.8", 10), out)
        self.assertNotIn("203.0.113.99", out)

    def test_a_line_both_layouts_can_write_counts_as_its_server_s_other_lines_say(self):
        parser = log_monitor.LineParser("today_download")
        stamp = " [%s] " % clf_time(T0)
        line = b"198.51.100.7 - x 203.0.113.66 - y" + stamp.encode() + b'"GET /today_download HTTP/1.1" 200 1'
        # alone it is a %u (nginx's $remote_user) or an X-Forwarded-For: neither address counts
        self.assertIsNone(parser.request(line, 0, len(line)))
        self.assertEqual(dict(parser.skipped_why), {"client unclear (layout not known yet)": 1})
        plain = b"192.0.2.1 - -" + stamp.encode() + b'"GET /" 200 1\n'
        parser.scan(plain, None)  # a plain line (the last of a span): %h is the first field
        self.assertEqual(parser.request(line, 0, len(line))[0], "198.51.100.7")
        # in a central file (every line with a header) each web server has its own layout
        central_parser = log_monitor.LineParser("today_download")
        central_parser.scan(b"Jul  9 05:00:00 web1 apache: " + plain, None)
        aws = b"Jul  9 05:00:00 web2 apache: 192.0.2.1 10.0.0.5 - -" + stamp.encode() + b'"GET /" 200 1\n'
        central_parser.scan(aws, None)
        for host, client in ((b"web1", "198.51.100.7"), (b"web2", "203.0.113.66")):
            with self.subTest(host=host):
                central = b"Jul  9 05:00:00 " + host + b" apache: " + line
                self.assertEqual(central_parser.request(central, 0, len(central))[0], client)
        # where the lines have no header, a header is a client's (AWS's layout starts with its
        # X-Forwarded-For): what its lines show is the log's, and no new web server's
        parser.scan(aws, None)
        self.assertNotIn(parser._host_id(b"web2"), parser.layouts)

    def test_live_the_lines_before_a_start_at_the_end_show_the_layout(self):
        # a start at the end of AWS's layout: the first lines read, all a client's with "address -"
        # in its X-Forwarded-For, count for it, not for nobody (client unclear)
        path = os.path.join(self.dir, "access.log")
        line = '%s [%s] "GET %s HTTP/1.1" 200 1 "-" "x"\n'
        append(path, "".join(line % ("192.0.2.%d 10.0.0.5 - -" % i, clf_time(T0), "/") for i in range(50)))
        s = log_monitor.parse_args(["--log-file", path, "--trusted-proxy", "10.0.0.0/8", "--threshold", "3"])
        alerts = []
        monitor = log_monitor.Monitor(s, alerts.append)
        self.addCleanup(monitor.follower.close)
        monitor.poll_once(T0)
        hostile = "203.0.113.99 - x, 198.51.100.8 10.0.0.5 - -"
        append(path, "".join(line % (hostile, clf_time(T0 + i), "/today_download") for i in range(3)))
        monitor.poll_once(T0 + 3)
        self.assertEqual([a.client for a in alerts], ["198.51.100.8"])
        self.assertEqual(dict(monitor.detector.parser.skipped_why), {})

    def test_an_x_forwarded_for_longer_than_max_line_bytes_hides_no_request_silently(self):
        # before (the second review of issue 22): in AWS's layout a client's X-Forwarded-For of
        # 66 KB pushed its request past the part read: not counted, and not reported either
        xff = ", ".join(["192.0.2.1"] * 6000)
        line = '%s, 198.51.100.8 10.0.0.5 - - [%s] "GET /today_download HTTP/1.1" 200 1 "-" "x"\n'
        path = os.path.join(self.dir, "long.log")
        append(path, "".join(line % (xff, clf_time(T0 + i)) for i in range(12)))
        status, out, err = replay("--replay", path, "--trusted-proxy", "10.0.0.0/8")
        self.assertEqual(status, 0, err)
        self.assertRegex(out, r"over-long +12 ")
        # a line the reader cuts (its rest never read) is said as such
        reader = log_monitor.LineReader(chunk_bytes=1024, max_line_bytes=512)
        parser = log_monitor.LineParser("today_download", max_line_bytes=512)
        with open(path, "rb") as f:
            for buf, start, end in reader.spans(f):
                parser.scan(buf, None, start, end)
        self.assertEqual(parser.lines_cut, 12)
        self.assertIn("12 lines cut at MAX_LINE_BYTES (512) as read", log_monitor.cut_hint(parser))

    def test_a_cut_line_teaches_no_layout_and_a_read_shows_it_by_more_than_its_last_line(self):
        # before (the third review): a line cut at MAX_LINE_BYTES at a read's end, a header a client
        # wrote then "203.0.113.99 - " and padding, made that "web server" read %h first for good;
        # and in an AWS log whose last line was an attack line, every attack line was unclear
        stamp = clf_time(T0).encode()
        ordinary = b'192.0.2.1 10.0.0.5 - - [%s] "GET / HTTP/1.1" 200 1\n' % stamp
        parser = log_monitor.LineParser("today_download", max_line_bytes=512, trusted=["10.0.0.5"])
        cut = b"Jul  9 05:00:00 evil apache: 203.0.113.99 - " + b"a" * 600
        parser.scan(ordinary * 100 + cut[:512] + b"\n", None)  # as LineReader hands a cut line
        self.assertEqual(parser.layouts, {0: log_monitor.LAYOUT_AFTER})
        attack = b'%s, 198.51.100.8 10.0.0.5 - - [%s] "GET /today_download HTTP/1.1" 200 1\n'
        for written in (b"Jul  9 05:00:00 evil apache: 203.0.113.99 - x", b"203.0.113.99 - x"):
            with self.subTest(written=written):
                parser = log_monitor.LineParser("today_download", trusted=["10.0.0.5"])
                runs = parser.scan(ordinary * 100 + attack % (written, stamp) * 12, None)
                self.assertEqual([(run[0], run[4]) for run in runs], [("198.51.100.8", 12)])
        # a user field of many "-" (Apache logs the user a client sent on a 401) hides no pair
        dashes = attack.replace(b"10.0.0.5 - -", b"10.0.0.5 -" + b" -" * 9)
        runs = parser.scan(dashes % (b"203.0.113.99 - x", stamp) * 12, None)
        self.assertEqual([(run[0], run[4]) for run in runs], [("198.51.100.8", 12)])

    def test_one_line_with_a_time_a_client_wrote_does_not_reorder_a_replay(self):
        # before (the third review): a central file's first line, an sshd line with a time a
        # client wrote in it, put the file first: an earlier day's burst then went "late"
        paths = []
        for day, first in (
            (8, b""),
            (9, b"Jul  9 05:00:00 web1 sshd[1]: Invalid user [01/Jan/2020:00:00:00 +0000]\n"),
        ):
            path = os.path.join(self.dir, "day%d.log" % day)
            with open(path, "wb") as f:
                f.write(first + clf("192.0.2.1", T0 + (day - 9) * 86400).encode() * 3)
            paths.append(path)
        sources, note, _ = log_monitor.in_time_order(paths[::-1])
        for _, handle in sources:
            if handle is not None:
                handle.close()
        self.assertEqual([path for path, _ in sources], paths)

    def test_apache_s_empty_user_name_is_a_field_not_the_request(self):
        # before (the third review): Apache writes an empty user (Authorization: Basic Ong=) as "",
        # raw quotes: taken as the request, the line was silently not one
        parser = log_monitor.LineParser("today_download")
        for head in (b'198.51.100.7 - ""', b'www.example.com:443 198.51.100.7 - ""'):
            line = head + b' [%s] "GET /today_download HTTP/1.1" 200 5 "-" "x"' % clf_time(T0).encode()
            with self.subTest(head=head):
                self.assertEqual(parser.request(line, 0, len(line))[:3], ("198.51.100.7", T0, b"200"))

    def test_a_second_reading_of_a_header_line_is_only_for_a_header_that_took_in_h(self):
        # before: every 5424 line whose client did not count was read again from its start, where
        # its header's "-" fields looked like %l: ignored and proxied lines became "no client
        # address apache", and a web server named by address was charged with them
        request = ' [%s] "GET /today_download HTTP/1.1" 200 1 "-" "x"' % clf_time(T0)
        cases = [
            ("<133>1 2026-11-23T09:37:00Z web1 apache - - -  192.0.2.5 - -", "ignored address", "192.0.2.5"),
            ("<133>1 2026-11-23T09:37:00Z web1 apache - - -  10.0.0.5 - -", "proxied", "10.0.0.5"),
            ("<133>1 2026-11-23T09:37:00Z 10.1.2.3 - - - -  192.0.2.5 - -", "ignored address", "192.0.2.5"),
            # (the third review) a web server named by address, and "-" after it, is never the client
            (
                "<133>1 2026-11-23T09:37:00Z 10.1.2.3 - - - -  proxy.example.com - -",
                "no client address",
                None,
            ),
            ("Jul  9 05:00:00 10.1.2.3 - proxy.example.com - -", "no client address", None),
            ("<133>1 2026-11-23T09:37:00Z 10.1.2.3 - - - -  fe80::1%eth0 - -", "no client address", None),
        ]
        for head, why, example in cases:
            with self.subTest(line=head):
                parser = log_monitor.LineParser(
                    "today_download", ignore=["192.0.2.0/24"], trusted=["10.0.0.5"]
                )
                line = (head + request).encode()
                self.assertIsNone(parser.request(line, 0, len(line)))
                self.assertEqual(dict(parser.skipped_why), {why: 1})
                if example:
                    self.assertEqual(parser.examples[why], example)
        # a structured data a client opened in its X-Forwarded-For runs to the "]" of the real time:
        # read again from the start, the line keeps that time
        parser = log_monitor.LineParser("today_download", trusted=["10.0.0.0/8"])
        line = ("<13>1 a b c d e [x, 198.51.100.8 10.0.0.5 - -" + request).encode()
        self.assertEqual(parser.request(line, 0, len(line))[:2], ("198.51.100.8", T0))

    def test_the_hook_blocks_the_client_not_the_address_in_its_user_field(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        hook_out = os.path.join(self.dir, "blocked")
        hook = os.path.join(self.dir, "block.sh")
        with open(hook, "w") as f:
            f.write('#!/bin/sh\necho "$1" >> %s\n' % hook_out)
        os.chmod(hook, 0o755)
        receiver = self.receiver()
        d = self.daemon(
            "--log-file",
            path,
            "--interval",
            "0.05",
            "--syslog-socket",
            receiver.path,
            "--on-alert",
            hook + " {ip}",
        )
        d.wait_for("Following")
        append(path, self.user_lines("x,203.0.113.66 y z", int(time.time()) - 30))
        wait_until(lambda: os.path.exists(hook_out) and os.path.getsize(hook_out), what="the hook ran")
        self.assertEqual(d.stop(), 0)
        with open(hook_out) as f:
            self.assertEqual(f.read(), "198.51.100.7\n")


# ---------------------------------------------------------------- 4. no stall
def quotes_line(n):
    """n bytes of unescaped quotes, as a central syslog file can hold: `... 192.0.2.50 "A \\"A ...100%`."""
    head = b"Nov 23 06:59:06 web1 app: 192.0.2.50 "
    return head + (b'"A \\' * n)[: n - len(head) - 4] + b"100%"


class StallTest(TempDirTest):
    def cpu(self, parser, line, repeat=3):
        best = None
        for _ in range(repeat):
            start = time.process_time()
            parser.scan(line + b"\n", None)
            spent = time.process_time() - start
            best = spent if best is None else min(best, spent)
        return best

    def test_a_64_kb_line_of_quotes_costs_no_more_than_a_few_ordinary_ones(self):
        # before: 11.5 s for one such line of 64 KB
        parser = log_monitor.LineParser("today_download")
        hostile = quotes_line(65536)
        ordinary = clf("192.0.2.51", path="/today_download?" + "a" * 65000).encode().rstrip(b"\n")
        self.assertEqual(len(hostile), 65536)
        hostile_cpu, ordinary_cpu = self.cpu(parser, hostile), self.cpu(parser, ordinary)
        self.assertLess(hostile_cpu, max(0.01, 20 * ordinary_cpu), (hostile_cpu, ordinary_cpu))

    def test_a_line_of_address_dash_pairs_costs_a_few_address_checks_not_one_per_field(self):
        # the client is found by "address -" pairs (issue 22's second review); a line a client
        # fills with fake ones, behind a syslog header it wrote too, must not be parsed field by field
        stamp = clf_time(T0).encode()
        real, calls = log_monitor.parse_address, []

        def counted(token):
            calls.append(token)
            return real(token)

        for head in (b"", b"Jul  9 05:00:00 web1 apache: "):
            for fake in (b"1.2.3.%d - ", b"fd00::%x:zz - "):
                line = (
                    head
                    + b"".join(fake % i for i in range(200))
                    + b'[%s] "GET /today_download" 200 1' % stamp
                )
                parser = log_monitor.LineParser("today_download")
                calls.clear()
                with unittest.mock.patch.object(log_monitor, "parse_address", counted):
                    parser.request(line, 0, len(line))
                with self.subTest(head=head, fake=fake):
                    self.assertLessEqual(len(calls), 40)

    def test_a_burst_behind_150_such_lines_alerts_within_two_seconds_and_sigterm_takes_under_one(self):
        # before: 300 such lines made the alert more than 12 s late, and SIGTERM more than 10 s; 150
        # keep the suite short (the closing note of issue 20 measures 300)
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        d = self.daemon("--log-file", path, "--dry-run", "--interval", "0.05")
        d.wait_for("Following")
        hostile = b"".join(quotes_line(65536) + b"\n" for _ in range(150))
        start = time.monotonic()
        append(path, hostile)
        append(path, burst("203.0.113.74", 10, int(time.time()) - 20, step=1))
        d.wait_for(EXPECTED % ("203.0.113.74", 10), where="out", timeout=20)
        self.assertLess(time.monotonic() - start, 2.0)
        append(path, hostile)  # about half a second of work: SIGTERM comes in the middle of it
        time.sleep(0.05)
        start = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(10), 0)
        self.assertLess(time.monotonic() - start, 1.0)
        d.stop()


# ---------------------------------------------------------------- 6. memory, whatever the clients
class MemoryTest(unittest.TestCase):
    def test_the_caches_of_tokens_keep_no_long_token(self):
        # before (the third review): is_host's cache kept whole tokens, a client's 60 KB user name
        # before a "-" each: 8192 of them, 505 MB; and the fast path's cache kept long first fields
        parser = log_monitor.LineParser("today_download")
        stamp = clf_time(T0).encode()
        for i in range(10):
            long = b"U%d" % i + b"a" * 20000
            lines = (
                b'198.51.100.1 - %s - x [%s] "GET /today_download" 200 1\n' % (long, stamp)
                + b'%s - - [%s] "GET /today_download" 200 1\n' % (long, stamp)
                + b'%s, 198.51.100.2 10.0.0.5 - - [%s] "GET /today_download" 200 1\n' % (long, stamp)
            )
            parser.scan(lines, None)
        for cache in (parser._hosts, parser._keys, parser._plain):
            self.assertLessEqual(max(map(len, cache), default=0), 45)

    def test_private_and_proxy_keys_are_bounded(self):
        # before: the set of private keys grew with every distinct private client (221 MB at 1.5 M)
        parser = log_monitor.LineParser("today_download", trusted=["10.0.0.0/8"])
        parser.max_noted = 500
        lines = b"".join(
            b'fd00::%x - - [%s] "GET /today_download HTTP/1.1" 200 1\n10.1.%d.%d - - [%s] "GET /x" 200 1\n'
            % (i, clf_time(T0).encode(), i // 256 % 256, i % 256, clf_time(T0).encode())
            for i in range(3000)
        )
        runs = parser.scan(lines, None)
        self.assertEqual(sum(run[4] for run in runs), 3000)
        self.assertLessEqual(len(parser.private_hosts), 500)
        self.assertLessEqual(len(parser.trusted_keys), 500)
        self.assertLessEqual(len(parser.private_hits), 1000)


# ---------------------------------------------------------------- 7. a watched site cannot take over
class Site:
    """A real HTTP server on 127.0.0.1: /endless is a 302 to /ok with a body without end, /ftp a
    302 to an ftp:// URL on a local port whose server greets with words of its own."""

    def __init__(self):
        self.ftp = socket.socket()
        self.ftp.bind(("127.0.0.1", 0))
        self.ftp.listen(1)
        threading.Thread(target=self.greet, daemon=True).start()
        self.sent = 0
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                if self.path == "/ok":
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    return
                self.send_response(302)
                if self.path == "/ftp":
                    self.send_header("Location", "ftp://127.0.0.1:%d/x" % site.ftp.getsockname()[1])
                    self.end_headers()
                    return
                self.send_header("Location", "/ok")
                self.end_headers()
                chunk = b"x" * 65536
                try:
                    for _ in range(100000):  # 6.5 GB at most: bounded, and never all read
                        self.wfile.write(chunk)
                        site.sent += len(chunk)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def greet(self):
        while True:
            try:
                conn, _ = self.ftp.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"530 CALL-555-0100-SITE-HACKED-PAY-NOW\r\n")

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.ftp.close()


class RedirectTest(unittest.TestCase):
    def setUp(self):
        self.site = Site()
        self.addCleanup(self.site.close)

    def test_a_redirect_body_without_end_is_not_read(self):
        # before: urllib read the redirect's body whole: about 57 MB/s of memory until the timeout
        start = time.monotonic()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ok, detail, _ = log_monitor.probe_url(self.site.url + "/endless", 5)
        self.assertEqual((ok, detail), (True, "200"))
        self.assertLess(time.monotonic() - start, 2)
        self.assertLess(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, 20 * 1024)

    def test_a_redirect_to_ftp_is_down_in_our_words(self):
        # before: the monitor logged in to the FTP server and its greeting reached the alert
        ok, detail, _ = log_monitor.probe_url(self.site.url + "/ftp", 5)
        self.assertFalse(ok)
        self.assertEqual(detail, "redirected to a URL that is not http or https")
        self.assertNotIn("CALL", detail)


# ---------------------------------------------------------------- 8. the state file is the monitor's own
class StateFileTest(TempDirTest):
    def test_a_planted_temporary_link_is_not_followed(self):
        # before: <state>.tmp was opened by name: root overwrote the link's target
        state = os.path.join(self.dir, "state.json")
        target = os.path.join(self.dir, "precious")
        with open(target, "w") as f:
            f.write("precious\n")
        os.symlink(target, state + ".tmp")
        log = os.path.join(self.dir, "access.log")
        append(log, burst("10.0.0.1", 3))
        d = self.daemon("--log-file", log, "--state-file", state, "--dry-run", "--interval", "0.05")
        d.wait_for("Following")
        wait_until(lambda: os.path.exists(state), what="the state saved")
        self.assertEqual(d.stop(), 0)
        with open(target) as f:
            self.assertEqual(f.read(), "precious\n")

    def test_a_huge_state_file_is_refused_unread(self):
        # before: read whole: 2 GB of memory for 1 GiB before "Ignoring state file"
        state = os.path.join(self.dir, "state.json")
        with open(state, "wb") as f:
            f.truncate(1 << 30)
        log = os.path.join(self.dir, "access.log")
        append(log, "")
        d = self.daemon("--log-file", log, "--state-file", state, "--dry-run", "--interval", "0.05")
        d.wait_for("Following")
        with open("/proc/%d/status" % d.proc.pid) as f:
            peak = [int(line.split()[1]) for line in f if line.startswith("VmHWM:")][0] / 1024
        self.assertEqual(d.stop(), 0)
        self.assertTrue(any("larger than any state file" in line for line in d.err), d.err)
        self.assertLess(peak, 60)

    def test_a_link_planted_as_the_lock_or_a_missing_directory_is_one_line_and_exit_2(self):
        log = os.path.join(self.dir, "access.log")
        append(log, "")
        planted = os.path.join(self.dir, "state.json")
        os.symlink(os.path.join(self.dir, "precious"), planted + ".lock")
        for state in (planted, os.path.join(self.dir, "no", "such", "state.json")):
            with self.subTest(state=state):
                done = subprocess.run(
                    script_argv(["--log-file", log, "--state-file", state, "--dry-run"]),
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                self.assertEqual(done.returncode, 2)
                self.assertEqual(
                    unstamped(done.stderr).splitlines(),
                    [
                        "log_monitor.py: error: cannot use state file %s: %s"
                        % (
                            state,
                            "Too many levels of symbolic links"
                            if state == planted
                            else "No such file or directory",
                        )
                    ],
                )
        self.assertFalse(os.path.exists(os.path.join(self.dir, "precious")))

    def test_a_second_monitor_on_one_state_file_exits_2_naming_the_first(self):
        # before: both ran, each sent every alert (two SMS) and they raced on the temporary file
        state = os.path.join(self.dir, "state.json")
        log = os.path.join(self.dir, "access.log")
        append(log, "")
        first = self.daemon("--log-file", log, "--state-file", state, "--dry-run")
        first.wait_for("Following")
        done = subprocess.run(
            script_argv(["--log-file", log, "--state-file", state, "--dry-run"]),
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(done.returncode, 2)
        self.assertEqual(len(done.stderr.splitlines()), 1, done.stderr)
        self.assertIn("in use by process %d" % first.proc.pid, done.stderr)
        self.assertEqual(first.stop(), 0)


# ---------------------------------------------------------------- 9. replay inputs
class ReplayInputTest(TempDirTest):
    def test_1500_rotated_files_replay_under_a_limit_of_256_descriptors(self):
        # before: "Too many open files" and no report
        paths = []
        for i in range(1500):  # 15 files, newest first, each under 100 names (links: made in no time)
            path = os.path.join(self.dir, "access.log.%d" % i)
            if i < 15:
                append(path, clf("10.0.0.1", T0 + 3000 - i))
            else:
                os.link(paths[i % 15], path)
            paths.append(path)

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

        done = subprocess.run(
            script_argv(["--replay", *paths]), capture_output=True, text=True, timeout=60, preexec_fn=limit
        )
        self.assertEqual(done.returncode, 0, done.stderr[-500:])
        self.assertIn("matching requests  1500", done.stdout)

    def test_closed_standard_input_is_one_line_and_exit_2(self):
        # before: a traceback
        for args in (["--replay", "-"], ["--log-file", "-", "--dry-run"]):
            with self.subTest(args=args):
                argv = " ".join("'%s'" % a for a in [sys.executable, SCRIPT] + args)
                done = subprocess.run(
                    ["sh", "-c", "exec %s <&-" % argv], capture_output=True, text=True, timeout=30
                )
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertEqual(len(done.stderr.splitlines()), 1, done.stderr)
                self.assertIn("standard input is closed", done.stderr)

    def test_file_names_with_control_characters_reach_stderr_printable(self):
        # before: the reorder note printed ESC and BEL raw on stderr
        late = os.path.join(self.dir, "a\x1b[2J\x07.log")
        early = os.path.join(self.dir, "b.log")
        append(late, burst("10.0.0.1", 2, T0 + 100))
        append(early, burst("10.0.0.1", 2, T0))
        status, out, err = replay("--replay", late, early)
        self.assertEqual(status, 0, err)
        self.assertIn("replayed in the order", err)
        self.assertNotIn("\x1b", err)
        self.assertNotIn("\x07", err)
        self.assertNotIn("\x1b", out)


if __name__ == "__main__":
    unittest.main()
