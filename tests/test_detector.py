"""Pure logic: reading a line (LineParser), the sliding window (clients and seconds, no log lines),
the alert text. Time is injected."""

import io
import random
import unittest

from helpers import T0, clf, clf_time, log_monitor


def Detector(
    target="today_download", window=600, threshold=10, max_clients=200000, ipv6_prefix=128, ignore=()
):
    """The scanner -> window path with these settings."""
    return log_monitor.Detector(
        log_monitor.LineParser(target, ipv6_prefix, ignore),
        log_monitor.SlidingWindow(window, threshold, max_clients),
    )


def Window(window=600, threshold=10, max_clients=200000):
    return log_monitor.SlidingWindow(window, threshold, max_clients)


def feed(detector, *lines, now=T0):
    return detector.feed("".join(lines).encode(), now)


class AlertTextTest(unittest.TestCase):
    def test_message_is_exact(self):
        self.assertEqual(
            log_monitor.alert_message("192.168.1.100", "today_download", 15, 600),
            "SUSPICIOUS ACTIVITY: IP 192.168.1.100 accessed today_download 15 times in 10 minutes",
        )

    def test_window_text(self):
        self.assertEqual(log_monitor.window_text(600), "10 minutes")
        self.assertEqual(log_monitor.window_text(60), "1 minute")
        self.assertEqual(log_monitor.window_text(120), "2 minutes")
        self.assertEqual(log_monitor.window_text(90), "90 seconds")
        self.assertEqual(log_monitor.window_text(1), "1 second")

    def test_priorities(self):
        self.assertEqual(log_monitor.syslog_priority("user.error"), 11)
        self.assertEqual(log_monitor.syslog_priority("user.err"), 11)
        self.assertEqual(log_monitor.syslog_priority("local0.warning"), 132)
        self.assertEqual(log_monitor.syslog_priority("auth.crit"), 34)
        for bad in ("user", "user.bogus", "nope.error", "", ".error"):
            with self.assertRaises(ValueError, msg=bad):
                log_monitor.syslog_priority(bad)

    def test_alert_line_is_iso_log_time_then_message(self):
        line = log_monitor.alert_line(log_monitor.Alert("10.0.0.1", 10, T0), "x", 600, utc=True)
        self.assertEqual(
            line,
            "2025-07-09T05:30:25+00:00 SUSPICIOUS ACTIVITY: IP 10.0.0.1 accessed x 10 times in 10 minutes",
        )


class ParseTest(unittest.TestCase):
    def test_clf_time_any_offset(self):
        self.assertEqual(log_monitor.parse_clf_time(b"09/Jul/2025:14:30:25 +0900"), T0)
        self.assertEqual(log_monitor.parse_clf_time(b"09/Jul/2025:00:30:25 -0500"), T0)
        self.assertEqual(log_monitor.parse_clf_time(b"09/Jul/2025:05:30:25 +0000"), T0)
        self.assertEqual(log_monitor.parse_clf_time(b"09/Jul/2025:11:00:25 +0530"), T0)

    def test_clf_time_rejects_nonsense(self):
        self.assertIsNone(log_monitor.parse_clf_time(b"09/Foo/2025:14:30:25 +0900"))
        self.assertIsNone(log_monitor.parse_clf_time(b"31/Feb/2025:14:30:25 +0900"))
        self.assertIsNone(log_monitor.parse_clf_time(b"09/Jul/2025:25:30:25 +0900"))
        self.assertIsNone(log_monitor.parse_clf_time(b"09/Jul/2025:14:61:25 +0900"))

    def test_client_is_first_field_ipv4_ipv6_vhost(self):
        def client(line):
            return log_monitor.LineParser("x").client(line)

        self.assertEqual(client(b'192.0.2.7 - - [x] "GET /x"'), "192.0.2.7")
        self.assertEqual(client(b'2001:DB8::1 - - [x] "GET /x"'), "2001:db8::1")
        self.assertEqual(client(b'::ffff:192.0.2.1 - - [x] "GET /x"'), "192.0.2.1")
        self.assertEqual(client(b'www.example.com:443 192.0.2.9 - - [x] "GET /x"'), "192.0.2.9")
        self.assertEqual(client(b"www.example.com:443 2001:db8::2 - - [x]"), "2001:db8::2")

    def test_no_client_from_elsewhere_in_the_line(self):
        det = Detector("today_download", threshold=1)
        stamp = "[09/Jul/2025:14:30:25 +0900] "
        lines = [
            "- - - " + stamp + '"GET /today_download?ip=10.1.1.1 HTTP/1.1" 200 1 "-" "-"\n',
            "host - - " + stamp + '"GET /today_download HTTP/1.1" 200 1 "http://10.1.1.1/" "-"\n',
            "fe80::1%$(reboot) - - " + stamp + '"GET /today_download HTTP/1.1" 200 1 "-" "-"\n',
            "999.1.1.1 - - " + stamp + '"GET /today_download HTTP/1.1" 200 1 "-" "10.2.2.2"\n',
        ]
        self.assertEqual(feed(det, *lines), [])
        self.assertEqual(det.parser.skipped, 4)
        self.assertEqual(det.window.clients, {})

    def test_target_must_be_in_the_request(self):
        det = Detector("today_download", threshold=1)
        self.assertEqual(
            feed(det, clf("10.0.0.1", path="/album/1", referer="https://x/today_download?album=3")), []
        )
        self.assertEqual(feed(det, clf("10.0.0.2", path="/", agent="today_download-bot")), [])
        self.assertEqual(det.parser.matches, 0)
        alerts = feed(det, clf("10.0.0.3", path="/today_download?album=3"))
        self.assertEqual([a.client for a in alerts], ["10.0.0.3"])

    def test_timestamps_parsed_once_per_distinct_second(self):
        det = Detector("today_download", 600, 100)
        feed(det, *[clf("10.0.0.%d" % i, T0 + i // 50) for i in range(200)])
        self.assertEqual(len(det.parser.times), 4)

    def test_escaped_quote_in_request_does_not_end_it(self):
        det = Detector("today_download", threshold=1)
        line = '10.0.0.4 - - [09/Jul/2025:14:30:25 +0900] "GET /a\\" today_download HTTP/1.1" 200 1 "-" "-"\n'
        self.assertEqual(len(feed(det, line)), 1)

    def test_other_formats_count_anywhere_at_read_time(self):
        det = Detector("today_download", threshold=2)
        self.assertEqual(det.feed(b"10.9.9.9 fetched today_download\n", T0), [])
        alerts = det.feed(b"10.9.9.9 fetched today_download again\n", T0 + 5)
        self.assertEqual([(a.client, a.count, a.time) for a in alerts], [("10.9.9.9", 2, T0 + 5)])


class WindowTest(unittest.TestCase):
    def hits(self, window, client, seconds):
        return [a for a in (window.add(client, t) for t in seconds) if a is not None]

    def test_threshold_reached_alerts_once_with_count(self):
        win = Window(600, 10)
        self.assertEqual(self.hits(win, "10.0.0.1", range(T0, T0 + 9 * 30, 30)), [])
        alerts = self.hits(win, "10.0.0.1", [T0 + 300])
        self.assertEqual([(a.client, a.count, a.time) for a in alerts], [("10.0.0.1", 10, T0 + 300)])

    def test_spread_wider_than_window_never_alerts(self):
        win = Window(600, 10)
        self.assertEqual(self.hits(win, "10.0.0.1", range(T0, T0 + 20 * 67, 67)), [])
        self.assertEqual(win.clients["10.0.0.1"].total, 18)  # two windows kept of 20 requests

    def test_window_edge(self):
        win = Window(600, 2)
        self.assertEqual(self.hits(win, "10.0.0.1", [T0, T0 + 600]), [])
        self.assertEqual(len(self.hits(win, "10.0.0.1", [T0 + 1199])), 1)

    def test_no_alert_per_request_then_again_after_a_window(self):
        win = Window(600, 10)
        alerts = self.hits(win, "10.0.0.1", range(T0, T0 + 599, 2))  # 300 requests
        self.assertEqual(len(alerts), 1)
        alerts = self.hits(win, "10.0.0.1", range(T0 + 599, T0 + 1200, 2))
        # first alert at T0+18 (10th request); next request at or after T0+618 is T0+619,
        # and (T0+19, T0+619] holds 290 even and 11 odd seconds
        self.assertEqual([(a.count, a.time) for a in alerts], [(301, T0 + 619)])

    def test_realert_needs_threshold_still_reached(self):
        win = Window(600, 10)
        self.assertEqual(len(self.hits(win, "10.0.0.1", range(T0, T0 + 10))), 1)
        self.assertEqual(self.hits(win, "10.0.0.1", [T0 + 700]), [])

    def test_clients_are_counted_apart(self):
        win = Window(600, 3)
        self.assertEqual(self.hits(win, "10.0.0.0", [T0, T0 + 3]), [])
        self.assertEqual(self.hits(win, "10.0.0.1", [T0 + 1, T0 + 4]), [])
        self.assertEqual(self.hits(win, "10.0.0.2", [T0 + 2, T0 + 5]), [])
        self.assertEqual(len(self.hits(win, "10.0.0.1", [T0 + 7])), 1)

    def test_out_of_order_lines_count_where_they_belong(self):
        win = Window(600, 5)
        times = [T0 + 100, T0 + 40, T0 + 90, T0 + 20, T0 + 95]
        alerts = self.hits(win, "10.0.0.1", times)
        self.assertEqual([(a.count, a.time) for a in alerts], [(5, T0 + 100)])

    def test_late_line_completes_an_earlier_window(self):
        win = Window(600, 10)
        self.assertEqual(self.hits(win, "10.0.0.1", range(T0, T0 + 9)), [])
        self.assertEqual(self.hits(win, "10.0.0.1", [T0 + 604]), [])
        # a download that started at T0+5 is logged when it ends, almost 10 minutes later
        alerts = self.hits(win, "10.0.0.1", [T0 + 5])
        self.assertEqual([(a.count, a.time) for a in alerts], [(10, T0 + 8)])

    def test_downloads_longer_than_the_window_count_at_the_newest_log_time(self):
        # 10 parallel downloads that each take 12 minutes: Apache logs each with its start
        # time when it ends, 12 minutes later, behind the other traffic
        win = Window(600, 10)
        win.add("10.0.0.2", T0 + 720)
        alerts = self.hits(win, "10.0.0.1", [T0 + i for i in range(10)])
        self.assertEqual([(a.client, a.count, a.time) for a in alerts], [("10.0.0.1", 10, T0 + 720)])
        self.assertEqual((win.late_counted, win.late), (10, 0))

    def test_a_request_a_day_older_than_the_newest_is_late_and_ignored(self):
        win = Window(600, 2)
        win.add("10.0.0.2", T0 + 86401)
        self.assertEqual(self.hits(win, "10.0.0.1", [T0, T0]), [])
        self.assertEqual((win.late, win.late_counted), (2, 0))
        self.assertNotIn("10.0.0.1", win.clients)

    def test_threshold_one(self):
        win = Window(600, 1)
        self.assertEqual(len(self.hits(win, "10.0.0.1", [T0])), 1)
        self.assertEqual(self.hits(win, "10.0.0.1", [T0 + 1]), [])

    def test_memory_does_not_grow_with_rate(self):
        win = Window(600, 10)
        alerts = []
        for second in range(T0, T0 + 1800):
            for _ in range(100):
                alerts.append(win.add("10.0.0.1", second))
        hits = win.clients["10.0.0.1"]
        self.assertLessEqual(len(hits.secs), 1200)
        self.assertEqual(hits.total, sum(hits.cnts))
        self.assertEqual(hits.total, 1200 * 100)
        self.assertEqual([a.time for a in alerts if a], [T0, T0 + 600, T0 + 1200])

    def test_cleanup_forgets_idle_clients(self):
        win = Window(600, 10)
        win.add("10.0.0.1", T0)
        win.add("10.0.0.2", T0)
        win.add("10.0.0.2", T0 + 1)
        win.add("10.0.0.3", T0 + 1000)
        self.assertEqual(win.cleanup(), 0)
        win.add("10.0.0.4", T0 + 1201)
        self.assertEqual(win.cleanup(), 2)
        self.assertEqual(sorted(win.clients), ["10.0.0.3", "10.0.0.4"])


class FloodTest(unittest.TestCase):
    def test_offender_survives_a_flood_of_one_request_clients(self):
        rng = random.Random(7)
        win = Window(600, 10, max_clients=2000)
        alerts = []
        with self.assertLogs("log_monitor", "WARNING") as logs:
            for i in range(10000):
                if i % 1000 == 500:
                    alerts.append(win.add("198.51.100.7", T0 + i // 20))
                ip = (
                    "2001:db8:%x::%x" % (rng.getrandbits(16), i)
                    if i % 3
                    else "10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255)
                )
                alerts.append(win.add(ip, T0 + i // 20))
                self.assertLessEqual(len(win.clients), 2000)
        self.assertEqual(len(logs.output), 1)  # the table filling up is said once
        self.assertEqual([(a.client, a.count) for a in alerts if a], [("198.51.100.7", 10)])
        self.assertGreater(win.clients.evictions, 0)

    def test_table_full_of_repeat_clients_still_takes_new_ones(self):
        win = Window(600, 10, max_clients=100)
        for i in range(100):
            win.add("10.0.0.%d" % i, T0 + i)
            win.add("10.0.0.%d" % i, T0 + i)
        with self.assertLogs("log_monitor", "WARNING"):
            win.add("10.0.1.1", T0 + 200)
        self.assertIn("10.0.1.1", win.clients)
        self.assertNotIn("10.0.0.0", win.clients)

    def test_ipv6_prefix_groups_a_customer(self):
        det = Detector("today_download", 600, 4, ipv6_prefix=64)
        lines = [clf("2001:db8:1:2::%x" % (i + 1), T0 + i) for i in range(4)]
        alerts = feed(det, *lines)
        self.assertEqual([a.client for a in alerts], ["2001:db8:1:2::/64"])
        self.assertEqual(
            log_monitor.alert_message(alerts[0].client, "t", 4, 600),
            "SUSPICIOUS ACTIVITY: IP 2001:db8:1:2::/64 accessed t 4 times in 10 minutes",
        )

    def test_ipv6_prefix_128_counts_each_address(self):
        det = Detector("today_download", 600, 4)
        self.assertEqual(feed(det, *[clf("2001:db8:1:2::%x" % (i + 1), T0 + i) for i in range(4)]), [])

    def test_ignored_addresses_never_count(self):
        det = Detector("today_download", 600, 1, ignore=["10.1.0.0/16", "2001:db8::7"])
        lines = [clf("10.1.2.3"), clf("2001:db8::7"), clf("::ffff:10.1.9.9")]
        self.assertEqual(feed(det, *lines), [])
        self.assertEqual(len(feed(det, clf("10.2.0.1"))), 1)


class EvidenceBoundsTest(unittest.TestCase):
    """What an alert tells (the notes) is bounded however a client or a flood sends."""

    def test_a_client_keeps_the_notes_of_its_latest_2_x_threshold_requests(self):
        win = Window(600, 10)
        for i in range(5000):  # one by one (add), and in bulk (add_repeats): each keeps the bound
            win.add("198.51.100.7", T0 + i // 10, note=log_monitor.NOTE_KNOWN | i)
            if win.add("198.51.100.8", T0 + i // 10, note=log_monitor.NOTE_KNOWN | i) is None:
                win.add_repeats("198.51.100.8", T0 + i // 10, 3, note=log_monitor.NOTE_KNOWN | i)
            if i:  # from its second request on, a client has a Hits entry, with notes
                for client in ("198.51.100.7", "198.51.100.8"):
                    self.assertLessEqual(len(win.clients[client].notes), 2 * win.notes_kept)
        self.assertEqual(win.notes_kept, 20)
        self.assertEqual(win.clients["198.51.100.7"].notes[-1], log_monitor.NOTE_KNOWN | 4999)

    def test_an_alert_tells_its_window_s_latest_requests_and_the_first_one(self):
        win = Window(600, 10)
        alerts = [win.add("198.51.100.7", T0 + i, note=log_monitor.NOTE_KNOWN | i) for i in range(10)]
        self.assertEqual(alerts[-1].notes, tuple(log_monitor.NOTE_KNOWN | i for i in range(10)))
        self.assertEqual(alerts[-1].first_time, T0)

    def test_first_notes_of_a_flood_of_new_clients_stay_bounded(self):
        win = Window(600, 10)
        for i in range(20000):
            win.add("10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255), T0, note=log_monitor.NOTE_KNOWN)
            self.assertLessEqual(len(win.first_notes), 4097)
        self.assertEqual(len(win.clients), 20000)  # every client still counted

    def test_the_private_pre_filter_lets_every_private_address_through(self):
        # MAYBE_PRIVATE only skips the call of private_block(): it must never change its answer
        firsts = [bytes((a, b)) for a in range(256) for b in range(256)]
        for first in firsts:
            for packed in (first + b"\1\2", first + bytes(14), first + bytes(13) + b"\1"):
                block = log_monitor.private_block(packed)
                self.assertEqual(block if packed[0] in log_monitor.MAYBE_PRIVATE else 0, block, packed.hex())
        self.assertEqual(log_monitor.private_block(bytes(15) + b"\1"), 128)  # ::1

    def test_the_proxy_hint_judges_the_address_whatever_prefix_counts_it(self):
        # before (the hostile review of issue 22): with --ipv4-prefix 8, one request from
        # 172.16.0.1 made 172.0.0.0/8 private, and the report advised trusting it as a proxy;
        # then (the second review) ::1 in ::/64 was not private, and a proxy on ::1 got no hint
        for v4, v6, address, key, private in (
            (8, 128, b"172.16.0.1", "172.0.0.0/8", "172.16.0.1"),
            (8, 128, b"172.32.0.1", "172.0.0.0/8", None),
            (8, 128, b"10.1.2.3", "10.0.0.0/8", "10.1.2.3"),
            (9, 128, b"100.64.0.1", "100.0.0.0/9", "100.64.0.1"),
            (32, 64, b"fd00::1", "fd00::/64", "fd00::1"),
            (32, 64, b"::1", "::/64", "::1"),
            (32, 64, b"2001:db8::1", "2001:db8::/64", None),
            (32, 128, b"::1", "::1", "::1"),
        ):
            with self.subTest(address=address, v4=v4, v6=v6):
                parser = log_monitor.LineParser("today_download", v6, ipv4_prefix=v4)
                self.assertEqual(parser.client_key(address), key)
                self.assertEqual(parser.private_hosts.get(address), private)
        parser = log_monitor.LineParser("today_download", 64)
        stamp = clf_time(T0)
        parser.scan(
            b"".join(b'::1 - - [%s] "GET /today_download" 200 1\n' % stamp.encode() for _ in range(60)), None
        )
        self.assertIn("come from ::1, a private or loopback address", parser.proxied_hint())
        self.assertIn("Use --trusted-proxy ::1,", parser.proxied_hint())


class HostileLineTest(unittest.TestCase):
    def test_garbage_does_not_crash_or_invent_clients(self):
        det = Detector("today_download", 600, 3)
        garbage = [
            b"\x00\x00today_download\x00\n",
            b"\xff\xfe\xfd today_download \xc3\x28\n",
            b"\n\n\n",
            b"today_download\n",
            b'10.0.0.1 - - [99/Xyz/2025:99:99:99 +9999] "GET /today_download HTTP/1.1"\n',
            b'-n - - [09/Jul/2025:14:30:25 +0900] "GET /today_download;$(rm -rf /) `id` HTTP/1.1"\n',
            b"x" * 3000000 + b" today_download\n",
        ]
        self.assertEqual(det.feed(b"".join(garbage), T0), [])
        self.assertEqual(set(det.window.clients), {"10.0.0.1"})
        alerts = det.feed(b"".join(clf("10.0.0.1", T0 + i).encode() for i in range(2)), T0)
        self.assertEqual([(a.client, a.count) for a in alerts], [("10.0.0.1", 3)])

    def test_reader_holds_back_pieces(self):
        reader = log_monitor.LineReader()

        def read(piece):
            buf, start, end, count = reader.read(io.BytesIO(piece))
            self.assertEqual(count, len(piece))
            return bytes(buf[start:end])

        self.assertEqual(read(b"10.0.0.1 - - "), b"")
        self.assertEqual(reader.pending, 13)
        self.assertEqual(read(b"[x] a\nb"), b"10.0.0.1 - - [x] a\n")
        self.assertEqual(read(b"c\nd"), b"bc\n")
        self.assertEqual(reader.flush(), b"d\n")
        self.assertEqual(reader.flush(), b"")

    def test_reader_reads_big_files_in_chunks_without_losing_a_byte(self):
        data = b"".join(clf("10.0.%d.%d" % (i // 250, i % 250), T0 + i).encode() for i in range(3000))
        reader = log_monitor.LineReader(chunk_bytes=4096)
        handle, out = io.BytesIO(data), []
        while True:
            buf, start, end, count = reader.read(handle)
            if not count:
                break
            out.append(bytes(buf[start:end]))
        self.assertEqual(b"".join(out), data)

    def test_reader_hands_out_the_head_of_a_line_that_never_ends_and_skips_the_rest(self):
        reader = log_monitor.LineReader(chunk_bytes=10000, max_line_bytes=30000)
        out = []
        for _ in range(20):
            buf, start, end, count = reader.read(io.BytesIO(b"y" * 10000))
            out.append(bytes(buf[start:end]))
            self.assertEqual(count, 10000)
            self.assertLessEqual(reader.pending, 30000)
        self.assertLessEqual(len(reader.buffer), 10000 + 30000 + 1)  # bounded, however long the line
        buf, start, end, _ = reader.read(io.BytesIO(b"yyy\ngood\n"))
        out.append(bytes(buf[start:end]))
        self.assertEqual(b"".join(out), b"y" * 30000 + b"\n" + b"good\n")

    def test_feed_counts_only_inside_the_span(self):
        det = Detector("today_download", 600, 1)
        data = (clf("10.0.0.1") + clf("10.0.0.2") + clf("10.0.0.3")).encode()
        first_end = data.index(b"\n") + 1
        second_end = data.index(b"\n", first_end) + 1
        alerts = det.feed(bytearray(data), T0, first_end, second_end)
        self.assertEqual([a.client for a in alerts], ["10.0.0.2"])
        self.assertEqual(det.parser.lines_read, 1)


if __name__ == "__main__":
    unittest.main()
