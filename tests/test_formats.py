"""Log layouts (issue 9): who the client is, what time a line has, why a line did not count.

Every line here (the layouts are in lines.py, shared with test_fast_path) is written from
the Apache mod_log_config and nginx log_format documentation: Common and Combined,
X-Forwarded-For in place of %h or after Combined, %v before %h, $time_iso8601, text
between the time and the request, syslog headers of a central rsyslog. Each layout must
give the right client and time and the same alerts in a replay and live. The checks run in
process (Scanner, Detector, replay with out=list.append); real processes only where the
contract is about the process: one daemon reads every layout, one the issue's backlog that
starts with an undated line, one reports on stderr what did not count; two replays run
with TZ set.
"""

import datetime
import gzip
import json
import os
import re
import subprocess
import unittest
from unittest import mock

from helpers import T0, TempDirTest, append, clf_time, log_monitor, script_argv
from lines import (
    LAYOUTS,
    REFERER_AGENT,
    REQUEST,
    TRUSTED,
    common,
    iso,
    layout_line,
    not_counted_lines,
    undated,
)

FAST = ("--interval", "0.1")
TOKYO = "JST-9"  # POSIX TZ: nine hours east of UTC, no tz database needed


def utc_text(t):
    """An alert's time as --utc prints it."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()


LAYOUT = {name: (client, template) for name, client, template in LAYOUTS}


def layout_burst(template, start):
    """Ten requests of a layout, 5 s apart from start: one alert at start + 45 s, count 10."""
    return "".join(layout_line(template, start + 5 * i) for i in range(10))


def alert_keys(alerts):
    """(client, count, time text) of JSON alerts, in order."""
    return [(a["client"], a["count"], a["time"]) for a in alerts]


def status_parts(status):
    """{reason: count} of the 'skipped N (reason n, ...)' part of a status line, and N."""
    match = re.search(r"skipped (\d+)(?: \((.*)\))?; (?:idle|behind)", status)
    if match is None:
        raise AssertionError("no skipped part in %r" % status)
    counts = {}
    for part in re.split(r", (?=[a-z])", match.group(2) or ""):
        if part:
            reason, _, n = part.rpartition(" ")
            counts[reason] = int(n)
    return int(match.group(1)), counts


class FormatTest(TempDirTest):
    """In-process replays and detectors over lines written by the tests."""

    def write(self, name, text):
        """A new file name in the temp dir holding text."""
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def replay(self, paths, *args):
        """(JSON alerts, report dict) of an in-process replay with --json --utc."""
        out = []
        settings = log_monitor.parse_args(["--replay", *paths, "--json", "--utc", *args])
        self.assertEqual(log_monitor.run_replay(settings, out=out.append), 0)
        return [a for a in map(json.loads, out[:-1]) if a.get("event") != "ended"], json.loads(out[-1])

    def replay_text(self, paths, *args):
        """The terminal output of an in-process replay (alert lines, then the report)."""
        out = []
        settings = log_monitor.parse_args(["--replay", *paths, "--utc", *args])
        self.assertEqual(log_monitor.run_replay(settings, out=out.append), 0)
        return out

    def scan(self, line, *args):
        """The (client, second) a line counts as (replay rules), or None; and the scanner."""
        scanner = log_monitor.Detector.from_settings(log_monitor.parse_args(list(args))).parser
        found = scanner.scan(line.encode(), None)
        self.assertLessEqual(len(found), 1)
        return (found[0][:2] if found else None), scanner

    def skipped(self, report):
        """{reason: (count, example)} of a replay report."""
        return {row["reason"]: (row["count"], row["example"]) for row in report["skipped"]}


# ---------------------------------------------------------------- every layout
class LayoutTest(FormatTest):
    def test_each_layout_gives_its_client_and_the_time_of_its_clf_line(self):
        for name, client, template in LAYOUTS:
            with self.subTest(name):
                found, scanner = self.scan(layout_line(template, T0), *TRUSTED)
                self.assertEqual(found, (client, T0))
                self.assertEqual(dict(scanner.skipped_why), {})

    def test_each_layout_alerts_for_its_client_in_a_replay(self):
        for n, (name, client, template) in enumerate(LAYOUTS):
            with self.subTest(name):
                path = self.write("layout%d.log" % n, layout_burst(template, T0))
                alerts, report = self.replay([path], *TRUSTED)
                self.assertEqual(alert_keys(alerts), [(client, 10, utc_text(T0 + 45))])
                self.assertEqual(report["skipped"], [])
                self.assertEqual(report["first_time"], T0)

    def test_trusted_proxy_is_never_the_client(self):
        in_place_of_h = LAYOUT["X-Forwarded-For for %h: client, trusted proxy"][1]
        last_field = LAYOUT["Combined + X-Forwarded-For field behind a trusted proxy"][1]
        last_field = last_field.replace("203.0.113.13", "203.0.113.9")
        lines = [layout_line(in_place_of_h, T0 + 5 * i) for i in range(5)]
        lines += [layout_line(last_field, T0 + 25 + 5 * i) for i in range(5)]
        alerts, report = self.replay([self.write("proxied.log", "".join(lines))], *TRUSTED)
        self.assertEqual(alert_keys(alerts), [("203.0.113.9", 10, utc_text(T0 + 45))])
        self.assertEqual([row["client"] for row in report["top"]], ["203.0.113.9"])
        self.assertIsNone(report["proxied_hint"])

    def test_without_trusted_proxy_the_rightmost_entry_is_the_client(self):
        def client(name):
            return self.scan(layout_line(LAYOUT[name][1], T0))[0]

        self.assertEqual(client("X-Forwarded-For for %h: client, trusted proxy"), ("10.0.0.5", T0))
        self.assertEqual(client("X-Forwarded-For for %h: spoofed leftmost entry"), ("203.0.113.12", T0))
        # Combined with an X-Forwarded-For field: an untrusted first field is the client
        self.assertEqual(client("Combined + X-Forwarded-For field, spoofed leftmost entry"), ("10.0.0.5", T0))

    def test_trusted_proxy_flag_is_repeatable_and_defaults_to_the_constant(self):
        self.assertEqual(log_monitor.parse_args([]).trusted_proxies, list(log_monitor.TRUSTED_PROXIES))
        self.assertEqual(
            log_monitor.parse_args(list(TRUSTED)).trusted_proxies, ["10.0.0.5/32", "10.0.1.0/24"]
        )
        with mock.patch.object(log_monitor, "TRUSTED_PROXIES", ["192.0.2.1"]):
            self.assertEqual(log_monitor.parse_args([]).trusted_proxies, ["192.0.2.1/32"])
            self.assertEqual(
                log_monitor.parse_args(["--trusted-proxy", "10.0.0.5"]).trusted_proxies, ["10.0.0.5/32"]
            )
        with mock.patch("sys.stderr"), self.assertRaises(SystemExit) as raised:
            log_monitor.parse_args(["--trusted-proxy", "lb.example.com"])
        self.assertEqual(raised.exception.code, 2)

    def test_only_validated_addresses_from_x_forwarded_for(self):
        stamp = "[%s] " % clf_time(T0)
        garbage = [
            "unknown, 10.0.0.5 - - " + stamp + REQUEST,
            "203.0.113.9, unknown - - " + stamp + REQUEST,
            "203.0.113.9, 999.1.1.1 - - " + stamp + REQUEST,
            "$(reboot), 10.0.0.5 - - " + stamp + REQUEST,
            "203.0.113.9,<script> - - " + stamp + REQUEST,
            "10.0.0.5 - - " + stamp + REQUEST + REFERER_AGENT + ' "unknown"',
            "10.0.0.5 - - " + stamp + REQUEST + REFERER_AGENT + ' "203.0.113.9, <script>"',
            "10.0.0.5 - - " + stamp + REQUEST + REFERER_AGENT + ' "999.1.1.1"',
            "10.0.0.5 - - " + stamp + REQUEST + REFERER_AGENT + ' "$(reboot)"',
        ]
        settings = log_monitor.parse_args(["--threshold", "1", "--trusted-proxy", "10.0.0.0/8"])
        det = log_monitor.Detector.from_settings(settings)
        for line in garbage:
            with self.subTest(line):
                self.assertEqual(det.feed((line + "\n").encode(), None), [])
        self.assertEqual(det.window.clients, {})
        self.assertEqual(det.parser.skipped, len(garbage))

    def test_dash_for_x_forwarded_for_and_trusted_proxy_without_it_are_reported(self):
        dash = "- - - [%s] " % clf_time(T0) + REQUEST + REFERER_AGENT + "\n"
        bare = "10.0.0.5 - - [%s] " % clf_time(T0) + REQUEST + REFERER_AGENT + ' "-"\n'
        combined = "10.0.1.7 - - [%s] " % clf_time(T0) + REQUEST + REFERER_AGENT + "\n"
        alerts, report = self.replay([self.write("a.log", dash * 10 + bare * 10 + combined * 10)], *TRUSTED)
        self.assertEqual(alerts, [])
        self.assertEqual(report["matching"], 0)
        self.assertEqual(self.skipped(report), {"no client address": (10, "-"), "proxied": (20, "10.0.0.5")})

    def test_hostname_lookups_first_field_is_not_counted_and_reported(self):
        lines = "".join(common("host.example.com", T0 + i) for i in range(10))
        path = self.write("a.log", lines)
        alerts, report = self.replay([path])
        self.assertEqual(alerts, [])
        self.assertEqual(report["matching"], 0)
        self.assertEqual(self.skipped(report), {"no client address": (10, "host.example.com")})
        text = self.replay_text([path])
        self.assertTrue(
            any("no client address" in line and "host.example.com" in line for line in text), text
        )


# ---------------------------------------------------------------- a log that looks proxied
class ProxiedHintTest(FormatTest):
    def hint(self, private, public, client="10.0.0.5", *args):
        """The report's proxied_hint for a replay of private requests of client and public ones
        of other clients."""
        lines = [common(client, T0 + 700 * i) for i in range(private)]  # never 10 in a window
        lines += [common("198.51.100.%d" % (i % 200 + 1), T0 + 700 * i + 1) for i in range(public)]
        _, report = self.replay([self.write("hint%d-%d.log" % (private, public), "".join(lines))], *args)
        return report["proxied_hint"]

    def test_one_private_address_with_most_of_fifty_requests_is_named(self):
        for client in ("10.0.0.5", "172.16.3.4", "192.168.1.1", "127.0.0.1", "::1"):
            with self.subTest(client):
                hint = self.hint(26, 24, client)
                self.assertIsNotNone(hint)
                for words in ("--trusted-proxy %s" % client, "mod_remoteip", "set_real_ip_from"):
                    self.assertIn(words, hint)

    def test_no_hint_below_the_bounds_or_with_a_trusted_proxy(self):
        self.assertIsNone(self.hint(25, 25))  # half is not most
        self.assertIsNone(self.hint(49, 0))  # fewer than 50 matching requests
        self.assertIsNone(self.hint(50, 0, "198.51.100.250"))  # a public address
        self.assertIsNone(self.hint(50, 0, "10.0.0.5", "--trusted-proxy", "10.9.9.9"))

    def test_its_share_counts_the_requests_an_x_forwarded_for_list_gives_to_the_address(self):
        lines = [common("10.0.0.5", T0 + 700 * i) for i in range(62)]
        lines += [common("203.0.113.9, 10.0.0.5", T0 + 700 * i + 1) for i in range(12)]
        _, report = self.replay([self.write("xff.log", "".join(lines))])
        self.assertEqual([(row["client"], row["requests"]) for row in report["top"]], [("10.0.0.5", 74)])
        self.assertTrue(report["proxied_hint"].startswith("100 % of the matching requests"), report)

    def test_terminal_report_says_it(self):
        path = self.write("a.log", "".join(common("10.0.0.5", T0 + 30 * i) for i in range(60)))
        text = " ".join(" ".join(self.replay_text([path])).split())
        self.assertIn("looks proxied", text)
        self.assertIn("--trusted-proxy 10.0.0.5", text)
        self.assertIn("mod_remoteip", text)
        self.assertIn("set_real_ip_from", text)


# ---------------------------------------------------------------- times
class TimeTest(FormatTest):
    def test_each_iso_time_is_the_epoch_of_the_clf_line(self):
        for t in (T0, T0 + 86399, 1709251199):  # also 2024-02-29T23:59:59Z, a leap day
            clf_found = self.scan(common("192.0.2.1", t))[0]
            self.assertEqual(clf_found, ("192.0.2.1", t))
            for text in (
                "[%s]" % iso(t, 540),
                iso(t, 540),
                "[%s]" % iso(t, 60, ".250"),
                iso(t, 60, ".250"),
                "[%s]" % iso(t, zulu=True),
                iso(t, fraction=".5", zulu=True),
                "[%s]" % iso(t),
                "[%s]" % iso(t, -570),
            ):
                with self.subTest(t=t, time=text):
                    line = "192.0.2.1 - - %s %s%s\n" % (text, REQUEST, REFERER_AGENT)
                    self.assertEqual(self.scan(line)[0], clf_found)

    def test_text_between_time_and_request_then_the_target_must_be_in_the_request(self):
        stamp = "[%s]" % clf_time(T0)
        for between in (" (0 s) ", " 48213 ", " 0.002 - "):
            with self.subTest(between=between):
                counted = "192.0.2.1 - - " + stamp + between + REQUEST + REFERER_AGENT + "\n"
                self.assertEqual(self.scan(counted)[0], ("192.0.2.1", T0))
                referer_only = (
                    "192.0.2.1 - - "
                    + stamp
                    + between
                    + '"GET /albums/7 HTTP/1.1" 200 1024 "https://www.example.com/today_download" "-"\n'
                )
                self.assertIsNone(self.scan(referer_only)[0])
                iso_referer_only = referer_only.replace(stamp, "[%s]" % iso(T0, 540))
                self.assertIsNone(self.scan(iso_referer_only)[0])

    def test_syslog_header_time_is_not_the_access_time(self):
        for name, client, template in LAYOUTS:
            if "header" in name:
                with self.subTest(name):
                    self.assertEqual(self.scan(layout_line(template, T0 + 7))[0], (client, T0 + 7))


# ---------------------------------------------------------------- undated lines
class UndatedTest(FormatTest):
    def detector(self):
        return log_monitor.Detector.from_settings(log_monitor.parse_args([]))

    def test_undated_line_counts_at_the_newest_log_time_and_never_moves_the_clock(self):
        timed = "".join(common("198.51.100.1", T0 + 5 * i) for i in range(9))
        for now in (None, T0 + 86400 * 365):  # replay; live a year after these lines
            with self.subTest(now=now):
                det = self.detector()
                self.assertEqual(det.feed(timed.encode(), now), [])
                alerts = det.feed(undated("198.51.100.1").encode(), now)
                self.assertEqual(
                    [(a.client, a.count, a.time) for a in alerts], [("198.51.100.1", 10, T0 + 40)]
                )
                self.assertEqual(det.window.newest_log_time, T0 + 40)
                later = det.feed(common("198.51.100.2", T0 + 41).encode(), now)
                self.assertEqual((later, det.window.late_counted, det.window.late), ([], 0, 0))

    def test_live_undated_line_before_any_counts_at_the_clock_without_becoming_the_newest(self):
        det, now = self.detector(), T0 + 86400 * 130
        self.assertEqual(det.feed(undated("192.0.2.77").encode(), now, newest_allowed=now + 60), [])
        self.assertEqual((det.parser.matches, det.parser.skipped), (1, 0))
        self.assertIsNone(det.window.newest_log_time)
        data = "".join(common("198.51.100.1", T0 + 5 * i) for i in range(10)).encode()
        alerts = det.feed(data, now, newest_allowed=now + 60)
        self.assertEqual([(a.client, a.count, a.time) for a in alerts], [("198.51.100.1", 10, T0 + 45)])
        self.assertEqual((det.window.late, det.window.late_counted), (0, 0))

    def test_replay_skips_undated_lines_before_any_time_and_never_shows_1970(self):
        text = undated("192.0.2.77") + undated("192.0.2.78")
        text += "".join(common("198.51.100.1", T0 + 5 * i) for i in range(10)) + undated("198.51.100.1")
        path = self.write("a.log", text)
        alerts, report = self.replay([path])
        self.assertEqual(alert_keys(alerts), [("198.51.100.1", 10, utc_text(T0 + 45))])
        self.assertEqual(report["matching"], 11)
        self.assertEqual(list(self.skipped(report)), ["no readable time"])
        count, example = self.skipped(report)["no readable time"]
        self.assertEqual(count, 2)
        self.assertTrue(example.startswith("192.0.2.77 - - [09/Jul/2025 14:30:25]"), example)
        self.assertEqual((report["first_time"], report["last_time"]), (T0, T0 + 45))
        self.assertGreaterEqual(report["timeline"]["start"], T0 - 60)
        printed = "\n".join(self.replay_text([path]))
        self.assertNotIn("1970", printed)
        self.assertIn("no readable time", printed)


# ---------------------------------------------------------------- percent-encoding
class PercentTest(FormatTest):
    def test_encoded_path_counts_an_encoded_referer_does_not(self):
        cases = (
            ("/today%5Fdownload", "-", True),
            ("/today%5fdownload?album=3", "-", True),
            ("/today_down%6coad", "-", True),
            ("/%74oday_download", "-", True),
            ("/today%255Fdownload", "-", False),  # decoded once, as Apache does: /today%5Fdownload
            ("/albums/7", "https://www.example.com/today%5Fdownload", False),
            ("/albums/7", "https://www.example.com/today_down%6coad", False),
        )
        for path, referer, counts in cases:
            with self.subTest(path=path, referer=referer):
                found = self.scan(common("192.0.2.1", T0, path, referer))[0]
                self.assertEqual(found, ("192.0.2.1", T0) if counts else None)

    def test_encoded_requests_alert_in_a_replay(self):
        paths = ["/today%5Fdownload", "/today_down%6coad"] * 5
        lines = "".join(common("192.0.2.1", T0 + 5 * i, path) for i, path in enumerate(paths))
        lines += "".join(common("192.0.2.2", T0 + i, "/", "https://x/today%5Fdownload") for i in range(10))
        alerts, report = self.replay([self.write("a.log", lines)])
        self.assertEqual(alert_keys(alerts), [("192.0.2.1", 10, utc_text(T0 + 45))])
        self.assertEqual(report["matching"], 10)


# ---------------------------------------------------------------- a logrotate series
class RotatedSeriesTest(FormatTest):
    def test_shell_order_gives_the_alerts_of_time_order(self):
        # access.log.10.gz is the oldest, access.log the newest; each file holds a minute of log
        names = ["access.log", "access.log.1"] + ["access.log.%d.gz" % n for n in range(2, 11)]
        requests = [("198.51.100.1", T0 + 20 * i) for i in range(33)]  # 10th request at T0 + 180
        requests += [("198.51.100.2", T0 + 220 + 4 * i) for i in range(10)]  # .7.gz into .6.gz
        requests += [("192.0.2.%d" % (i + 1), T0 + 6 * i + 3) for i in range(110)]  # one each
        by_file = {name: [] for name in names}
        for client, t in sorted(requests, key=lambda r: r[1]):
            by_file[names[10 - (t - T0) // 60]].append(common(client, t))
        for name, lines in by_file.items():
            data = "".join(lines).encode()
            with open(os.path.join(self.dir, name), "wb") as f:
                f.write(gzip.compress(data) if name.endswith(".gz") else data)
        self.assertTrue(all(by_file.values()))
        time_order = [os.path.join(self.dir, name) for name in reversed(names)]
        shell_order = sorted(time_order)  # what access.log* expands to
        self.assertEqual(
            [os.path.basename(p) for p in shell_order[:4]],
            names[:2] + ["access.log.10.gz", "access.log.2.gz"],
        )
        expected = [("198.51.100.1", 10, utc_text(T0 + 180)), ("198.51.100.2", 10, utc_text(T0 + 256))]

        in_time, report = self.replay(time_order)
        self.assertEqual(alert_keys(in_time), expected)
        self.assertIsNone(report["order_note"])
        with self.assertLogs("log_monitor", "INFO") as logs:
            given, shell_report = self.replay(shell_order)
        self.assertEqual(alert_keys(given), expected)
        self.assertEqual(given, in_time)
        self.assertEqual(shell_report["files"], time_order)
        self.assertTrue(shell_report["order_note"])
        self.assertEqual((shell_report["late_counted"], shell_report["late_ignored"]), (0, 0))
        notes = [r.getMessage() for r in logs.records]
        self.assertTrue(
            any(m.startswith("Replay: replayed in the order of their first timestamps") for m in notes), notes
        )


# ---------------------------------------------------------------- nothing silent
class NotCountedTest(FormatTest):
    def test_replay_lists_every_reason_with_an_example(self):
        lines = [undated("192.0.2.77")]  # before any time: no readable time
        lines += [common("198.51.100.1", T0 + i) for i in range(5)]
        lines += list(not_counted_lines(T0 + 10).values())
        lines.append('10.0.0.5 - - [%s] %s%s "-"\n' % (clf_time(T0 + 11), REQUEST, REFERER_AGENT))
        path = self.write("a.log", "".join(lines))
        args = ("--ignore-ip", "192.0.2.99", "--trusted-proxy", "10.0.0.5")
        _, report = self.replay([path], *args)
        skipped = self.skipped(report)
        self.assertEqual(skipped.get("no client address"), (1, "host.example.com"))
        self.assertEqual(skipped.get("ignored address"), (1, "192.0.2.99"))
        self.assertEqual(skipped.get("proxied"), (1, "10.0.0.5"))
        self.assertEqual(skipped.get("no readable time", (0, ""))[0], 1)
        self.assertTrue(skipped["no readable time"][1].startswith("192.0.2.77 - - "))
        self.assertEqual(report["late_ignored"], 1)
        late = [reason for reason in skipped if reason.startswith("late")]
        self.assertEqual(
            len(late), 1, "no 'late ...' reason in the report's skipped list: %s" % report["skipped"]
        )
        self.assertEqual(skipped[late[0]][0], 1)
        self.assertIn("192.0.2.51", skipped[late[0]][1])
        printed = self.replay_text([path], *args)
        for reason, (_, example) in skipped.items():
            self.assertTrue(
                any(reason in line and example[:20] in line for line in printed), (reason, printed)
            )


# ---------------------------------------------------------------- real processes
class ProcessTest(FormatTest):
    def live(self, path, *args, env=None, lines=None, more=None):
        """Follow path from its start in a real daemon (--json --dry-run) until it has read lines
        lines, then stop it; (JSON alerts, the daemon, its last status line).

        more: (text, its number of lines) appended once the first lines were read."""
        d = self.daemon("--log-file", path, "--from-start", "--dry-run", "--json", *FAST, *args, env=env)
        d.wait_for("Following %s" % path)
        status = d.wait_read(lines)
        if more is not None:
            append(path, more[0])
            status = d.wait_read(lines + more[1])
        self.assertEqual(d.stop(), 0)
        return [a for a in map(json.loads, d.out) if a.get("event") != "ended"], d, status

    def test_live_every_layout_alerts_as_the_replay_does(self):
        text, expected = "", []
        for n, (_, client, template) in enumerate(LAYOUTS):
            text += layout_burst(template, T0 + 1000 * n)
            expected.append((client, 10, utc_text(T0 + 1000 * n + 45)))
        stamp = "[%s] " % clf_time(T0 + 1000 * len(LAYOUTS))
        text += "- - - " + stamp + REQUEST + REFERER_AGENT + "\n"  # no X-Forwarded-For header
        text += "10.0.0.5 - - " + stamp + REQUEST + REFERER_AGENT + ' "-"\n'  # trusted, no value
        path = self.write("access.log", text)
        replayed, report = self.replay([path], *TRUSTED)
        self.assertEqual(alert_keys(replayed), expected)
        env = dict(os.environ, TZ=TOKYO)
        alerts, d, _ = self.live(path, *TRUSTED, "--utc", env=env, lines=text.count("\n"))
        self.assertEqual(alert_keys(alerts), expected)
        self.assertEqual(set(self.skipped(report)), {"no client address", "proxied"})
        for reason, (_, example) in self.skipped(report).items():
            said = [
                line for line in d.err if line.startswith("Not counted: matching lines with %s, " % reason)
            ]
            self.assertEqual(len(said), 1, d.err)
            self.assertTrue(
                said[0].startswith("Not counted: matching lines with %s, e.g. %r" % (reason, example))
            )

    def test_live_undated_first_line_of_a_backlog_then_old_bursts_alert_as_in_replay(self):
        text = undated("192.0.2.77")
        text += "".join(common("198.51.100.1", T0 + 5 * i) for i in range(10))
        text += "".join(common("198.51.100.2", T0 + 700 + 5 * i) for i in range(10))
        path = self.write("access.log", text)
        replayed, report = self.replay([path])
        expected = [("198.51.100.1", 10, utc_text(T0 + 45)), ("198.51.100.2", 10, utc_text(T0 + 745))]
        self.assertEqual(alert_keys(replayed), expected)
        self.assertEqual(self.skipped(report)["no readable time"][0], 1)
        alerts, d, status = self.live(path, "--utc", lines=21)
        self.assertEqual(alert_keys(alerts), expected)
        self.assertIn("late counted 0, late 0,", status)
        self.assertIn("matching 21,", status)

    def test_live_each_reason_once_on_stderr_counted_in_the_status_line_and_the_proxied_hint(self):
        text = "".join(  # a load balancer in %h, and a few other clients
            common("10.0.0.5", T0 + 20 * i) + (common("198.51.100.%d" % i, T0 + 20 * i + 7) if i < 20 else "")
            for i in range(60)
        )
        first = not_counted_lines(T0 + 1200)
        text += "".join(first.values())
        path = self.write("access.log", text)
        second = not_counted_lines(T0 + 1201)
        second["no client address"] = common("other-host.example.com", T0 + 1201)
        args = ("--ignore-ip", "192.0.2.99")
        env = dict(os.environ, TZ=TOKYO)
        alerts, d, status = self.live(
            path, "--utc", *args, env=env, lines=text.count("\n"), more=("".join(second.values()), 3)
        )
        replayed, report = self.replay([path], *args)
        self.assertEqual(alert_keys(alerts), alert_keys(replayed))
        self.assertTrue(alerts)
        # each reason once, with the replay's example
        examples = {reason: example for reason, (_, example) in self.skipped(report).items()}
        said = {}
        for line in d.err:
            match = re.match(r"Not counted: matching lines with (.*?), e\.g\. (['\"])(.*)\2", line)
            if match:
                self.assertNotIn(match.group(1), said, d.err)
                said[match.group(1)] = match.group(3)
        self.assertEqual(
            {reason.split(" (")[0]: n for reason, n in status_parts(status)[1].items()},
            {"no client address": 2, "ignored address": 2, "late": 2},
        )
        self.assertEqual(set(said), set(status_parts(status)[1]))
        self.assertEqual(status_parts(status)[0], 4)
        for reason, example in examples.items():
            self.assertEqual(said.get(reason), example, reason)
        late = [example for reason, example in said.items() if reason.startswith("late")]
        self.assertTrue(late and "192.0.2.51" in late[0], said)
        hints = [line for line in d.err if "looks proxied" in line]
        self.assertEqual(len(hints), 1, d.err)
        for words in ("--trusted-proxy 10.0.0.5", "mod_remoteip", "set_real_ip_from"):
            self.assertIn(words, hints[0])
        # --utc: every time printed is UTC, with TZ nine hours east
        for line in d.out + d.err:
            for stamp in re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", line):
                self.assertTrue(
                    stamp.endswith("+00:00"), "local time despite --utc (TZ=%s): %s" % (TOKYO, line)
                )

    def test_utc_applies_to_every_time_of_a_replay_in_the_span_too(self):
        path = self.write("access.log", "".join(common("198.51.100.1", T0 + 5 * i) for i in range(10)))
        env = dict(os.environ, TZ=TOKYO)
        runs = [
            subprocess.Popen(
                script_argv(["--replay", path] + extra),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for extra in ([], ["--utc"])
        ]
        (local, local_err), (utc, utc_err) = [run.communicate(timeout=20) for run in runs]
        self.assertEqual([run.returncode for run in runs], [0, 0], local_err + utc_err)
        span = [line for line in local.splitlines() if line.strip().startswith("matching span")]
        self.assertEqual(
            span, ["  matching span      %s to %s (0:00:45)" % (iso(T0, 540), iso(T0 + 45, 540))]
        )
        span = [line for line in utc.splitlines() if line.strip().startswith("matching span")]
        self.assertEqual(
            span, ["  matching span      %s to %s (0:00:45)" % (utc_text(T0), utc_text(T0 + 45))]
        )
        self.assertNotIn("+09:00", utc + utc_err)
        self.assertIn(utc_text(T0 + 45) + " SUSPICIOUS ACTIVITY: IP 198.51.100.1", utc)
        self.assertIn("2025-07-09 05:30", utc)  # the timeline's first bucket, in UTC
        self.assertNotIn("2025-07-09 14:30", utc)


if __name__ == "__main__":
    unittest.main()
