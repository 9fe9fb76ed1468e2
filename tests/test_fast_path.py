"""The fast paths of issue 13 give what the long way gives, line for line and alert for alert.

- Scanner: a plain Combined line of an ordinary client is taken by one
  expression (PLAIN_LINE, or PLAIN_ROWS over a span where most lines match);
  every other line goes the long way (LineParser.request). Both paths over a span
  mixing every layout must give the same requests and the same counters as
  the long way on each line.
- Runs: the scanner gathers equal requests into (client, second, status, note, n)
  and the window and the tally count the part of a run that cannot alert in
  bulk. Counting runs must give the same alerts, window and report as counting
  the same requests one by one.
"""

import gc
import random
import unittest
import weakref

from helpers import T0, log_monitor
from lines import LAYOUTS, TRUSTED, common, layout_line, not_counted_lines, undated

IGNORE = ("--ignore-ip", "192.0.2.99")


def mixed_span(plain_lines):
    """Every layout, every reason not to count, private clients, encoded targets and escaped
    quotes, each between plain_lines ordinary matching lines: bytes of whole lines."""
    odd = [layout_line(template, T0 + 7) for _, _, template in LAYOUTS]
    odd += list(not_counted_lines(T0 + 9).values())
    odd += [
        undated("192.0.2.77"),
        common("10.1.2.3", T0 + 8),  # private: counted, and counted as private
        common("127.0.0.1", T0 + 8),
        common("192.0.2.5", T0 + 8, "/today%5Fdownload"),  # the target, percent-encoded
        common("192.0.2.6", T0 + 8, "/", "https://example.com/today_download"),  # referer only
        common("192.0.2.7", T0 + 8, '/today_download?q=\\"x\\"'),  # an escaped quote
        common("192.0.2.8", T0 + 8).replace(" - - ", " - frank,x "),  # a comma in %u
        common("192.0.2.9", T0 + 8).replace("/Jul/", "/Jux/"),  # no real date
        common("192.0.2.10", T0 + 8).replace("[", "").replace("]", ""),  # no time to read
        "no request at all today_download\n",
    ]
    lines = []
    for k, line in enumerate(odd):
        lines += [common("198.51.100.%d" % (k % 7), T0 + k) for _ in range(plain_lines)]
        lines.append(line)
    return "".join(lines).encode()


def counters(scanner):
    return (
        scanner.matches,
        scanner.skipped,
        dict(scanner.skipped_why),
        dict(scanner.examples),
        dict(scanner.private_hits),
        scanner.undated_example,
    )


class ScannerPathsTest(unittest.TestCase):
    def scanner(self, *args):
        settings = log_monitor.parse_args([*TRUSTED, *IGNORE, *args])
        return log_monitor.Detector.from_settings(settings).parser

    def reference(self, data, *args):
        """(requests, counters) of the long way on each line that holds the target or a "%"."""
        scanner = self.scanner(*args)
        requests = []
        for line in data.splitlines(keepends=True):
            if scanner.needle in line or b"%" in line:
                request = scanner.request(line, 0, len(line) - 1)
                if request is not None:
                    requests.append(request)
        return requests, counters(scanner)

    def test_both_paths_give_what_the_long_way_gives_for_every_layout(self):
        for plain_lines in (0, 1, 5):
            data = mixed_span(plain_lines)
            expected = self.reference(data)
            self.assertGreater(len(expected[0]), len(LAYOUTS), "the span counts most of its lines")
            for path in ("scan_lines", "scan_rows"):
                with self.subTest(plain_lines=plain_lines, path=path):
                    scanner, requests = self.scanner(), []
                    getattr(scanner, path)(data, 0, len(data), requests)
                    self.assertEqual((requests, counters(scanner)), expected)

    def test_the_requests_of_a_private_address_are_its_own_whatever_prefix_counts_it(self):
        # ::2 and ::1 (loopback) share ::/64: only ::1's requests are a private address's,
        # whichever comes first; fd00::2 and fd00::1 share fd00::/64, each its own
        for clients, private in (
            (["::2"] * 30 + ["::1"] * 30 + ["::2"] * 40, {"::1": 30}),
            (["fd00::2"] * 30 + ["fd00::1"] * 30 + ["fd00::2"] * 40, {"fd00::2": 70, "fd00::1": 30}),
        ):
            data = "".join(common(client, T0 + k) for k, client in enumerate(clients)).encode()
            expected = self.reference(data, "--ipv6-prefix", "64")
            self.assertEqual(expected[1][4], private)
            for path in ("scan_lines", "scan_rows"):
                with self.subTest(path=path, first=clients[0]):
                    scanner, requests = self.scanner("--ipv6-prefix", "64"), []
                    getattr(scanner, path)(data, 0, len(data), requests)
                    self.assertEqual((requests, counters(scanner)), expected)

    def test_equal_lines_are_parsed_once_per_run_into_what_findall_gives(self):
        for plain_lines, repeating in ((1, False), (5, True)):
            data = bytearray(mixed_span(plain_lines))  # as read: a buffer
            with self.subTest(plain_lines=plain_lines):
                rows, lines = log_monitor.equal_rows(data, 0, len(data))
                self.assertEqual(not isinstance(rows, zip), repeating, "the way taken")
                self.assertEqual(lines, data.count(b"\n") if repeating else None, "the lines counted")
                found = list(rows)
                expected = log_monitor.PLAIN_ROWS.findall(data)
                self.assertEqual([fields for fields, n in found for _ in range(n)], expected)
                self.assertEqual(len(found) < len(expected), repeating, "equal lines taken together")
                # parsed a piece at a time: pieces cut at every line, and in the middle of lines
                for piece in (1, 100, 1000):
                    rows, _ = log_monitor.equal_rows(data, 0, len(data), piece)
                    self.assertEqual([fields for fields, n in rows for _ in range(n)], expected)

    def test_a_few_lines_full_of_the_target_do_not_make_a_span_a_flood(self):
        scanner = self.scanner()
        stuffed = common("192.0.2.1", T0, "/" + "today_download" * 100)
        ordinary = common("192.0.2.2", T0, "/index.html")
        data = (stuffed + ordinary * 5).encode()
        self.assertFalse(
            log_monitor.mostly_matching(data, 0, len(data), log_monitor.plain_target_rows(scanner.needle))
        )
        data = (stuffed + ordinary) * 2 + stuffed
        self.assertTrue(
            log_monitor.mostly_matching(
                data.encode(), 0, len(data), log_monitor.plain_target_rows(scanner.needle)
            )
        )

    def test_a_scanner_is_freed_as_soon_as_it_is_dropped(self):
        # a replay makes one per piece; a reference cycle kept each one's caches (tens of MB under
        # a flood) until the cyclic collector ran: 211 MB instead of 98 MB for --jobs 1
        gc.disable()
        try:
            scanner = self.scanner()
            scanner.scan(mixed_span(1), None)
            freed = weakref.ref(scanner)
            del scanner
            self.assertIsNone(freed(), "a reference cycle holds the scanner")
        finally:
            gc.enable()

    def test_scan_gathers_equal_requests_into_runs_in_order(self):
        data = mixed_span(5)
        scanner = self.scanner()
        runs = scanner.scan(data, None)
        self.assertGreater(data.count(scanner.needle) * 2, data.count(b"\n"), "a dense span")
        self.assertTrue(any(n > 1 for *_, n in runs))
        self.assertTrue(all(runs[k][:4] != runs[k + 1][:4] for k in range(len(runs) - 1)), "merged")
        expanded = [run[:4] for run in runs for _ in range(run[4])]
        self.assertEqual(expanded, self.reference(data)[0])


def random_runs(seed, clients=4, length=400):
    """(client, second or None, status, note, n) runs of a bursty, out-of-order log with late lines."""
    rng = random.Random(seed)
    t, runs = T0, []
    for _ in range(length):
        t += rng.choice((0, 0, 1, 2, 7, 40))
        second = t - rng.choice((0, 0, 0, 3, 30, 700, 90000)) if rng.random() < 0.2 else t
        runs.append(
            (
                "192.0.2.%d" % rng.randrange(clients),
                None if rng.random() < 0.03 else second,
                rng.choice((b"200", b"200", b"404", None)),
                0,
                rng.choice((1, 1, 2, 3, 9, 25)),
            )
        )
    return runs


class RunsTest(unittest.TestCase):
    def count(self, runs, threshold, sweep_windows=()):
        """Alerts, window state and report of a replay-like detector counting runs."""
        settings = log_monitor.parse_args(["--threshold", str(threshold), "--window", "60"])
        settings.sweep_windows = sweep_windows
        detector = log_monitor.Detector.from_settings(settings)
        tally = detector.tally = log_monitor.Tally(detector.window, sweep_windows)
        detector.cleanup_seconds = 120
        alerts = [a for a in detector.count(runs, None) if a.__class__ is log_monitor.Alert]  # no Ended
        window = detector.window
        report = log_monitor.replay_report(tally, detector, settings, [], None, alerts)
        return alerts, window.late, window.late_counted, report

    def test_runs_count_as_their_requests_one_by_one(self):
        for seed in range(3):
            runs = random_runs(seed)
            one_by_one = [(*run[:4], 1) for run in runs for _ in range(run[4])]
            for threshold in (1, 2, 5, 10):
                for sweep in ((), (30,)):
                    with self.subTest(seed=seed, threshold=threshold, sweep=sweep):
                        expected = self.count(one_by_one, threshold, sweep)
                        self.assertTrue(expected[0], "the log alerts")
                        self.assertEqual(self.count(runs, threshold, sweep), expected)

    def test_undated_runs_count_in_the_totals_at_the_newest_log_time(self):
        runs = [
            ("192.0.2.1", None, b"500", 0, 4),  # before any log time: not counted
            ("192.0.2.1", T0 + 60, b"200", 0, 2),
            ("192.0.2.2", None, b"404", 0, 3),  # at T0 + 60
            ("192.0.2.2", T0, b"200", 0, 1),
        ]
        report = self.count(runs, 10)[3]
        self.assertEqual(report["statuses"], [["200", 3], ["404", 3]])
        self.assertEqual(report["timeline"]["counts"], [1, 5])
        self.assertEqual((report["first_time"], report["last_time"]), (T0, T0 + 60))
        self.assertEqual([row["requests"] for row in report["top"]], [4, 2])

    def test_the_timeline_never_holds_more_buckets_than_its_limit(self):
        rng = random.Random(5)
        hours = [T0 + 3600 * k for k in range(31)]  # the last one crosses a limit of 30 buckets
        spread = [T0 + rng.randrange(86400 * 400) for _ in range(3000)]
        for seconds in (hours, spread, spread + hours):
            for most in (30, 100, 100000):
                with self.subTest(seconds=len(seconds), most=most):
                    timeline = log_monitor.Timeline()
                    timeline.most_buckets = most
                    for t in seconds:
                        timeline.add(t)
                    self.assertLessEqual(len(timeline.buckets), most)
                    self.assertEqual(sum(timeline.as_dict()["counts"]), len(seconds))

    def test_a_run_that_crosses_the_threshold_alerts_with_the_threshold_count(self):
        window = log_monitor.SlidingWindow(60, 10)
        detector = log_monitor.Detector(None, window)
        alerts = detector.count([("192.0.2.1", T0, b"200", 0, 10000)], None)
        self.assertEqual([alert[:3] for alert in alerts], [("192.0.2.1", 10, T0)])
        self.assertEqual(window.clients["192.0.2.1"].recent, 10000)


if __name__ == "__main__":
    unittest.main()
