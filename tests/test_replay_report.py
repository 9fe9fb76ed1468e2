"""The replay report's numbers (issue 12), checked against the replay's own computation.

test_report.py tests the renderers on hand-made report dicts; here real
replays run over logs written by the tests, in process
(`log_monitor.run_replay(settings, out=list.append)`), and one real process runs
the README's command on examples/sample_access.log. Every expected figure is
counted independently from the lines written, or taken from a separate replay
with other --window/--threshold values.
"""

import bisect
import collections
import datetime
import html.parser
import json
import os
import re
import subprocess
import sys
import unittest
from unittest import mock

from helpers import ROOT, SCRIPT, T0, TempDirTest, clf_time, log_monitor

SAMPLE = os.path.join(ROOT, "examples", "sample_access.log")
TARGET = "/today_download"

# Clients of the sweep log (documentation and benchmarking ranges: validated, public, never private)
FAST = "198.51.100.1"  # 45 requests 4 s apart: the largest count
MEDIUM = "198.51.100.2"  # 14 requests 40 s apart
REALERT = "198.51.100.3"  # bursts of 8, a window and more apart: alerts again
STEADY = "198.51.100.4"  # 1 request every 100 s for 50 minutes
SCANNER = "203.0.113.5"  # 404s, 15 s apart
DOWNLOADER = "203.0.113.6"  # 206s, 2 s apart
BOUNDARY = "192.0.2.7"  # exactly 300 s apart: a request a whole window old is out of it
SPARSE = "192.0.2.8"  # 4 requests 100 s apart: between half the threshold and the threshold

Request = collections.namedtuple("Request", "t client status")


# ---------------------------------------------------------------- writing logs
def log_line(client, t, status="200", path=TARGET):
    """One Combined Log Format line at epoch t; status None: the line ends after the request."""
    head = '%s - - [%s] "GET %s HTTP/1.1"' % (client, clf_time(t), path)
    if status is None:
        return head + "\n"
    return head + ' %s 1024 "-" "Mozilla/5.0"\n' % status


def every(client, n, start, step, status="200"):
    """n matching requests of client, step seconds apart from T0 + start."""
    return [Request(T0 + start + i * step, client, status) for i in range(n)]


def sweep_requests():
    """Clients bursting at different rates over 50 minutes, some alerting again a window later."""
    requests = every(FAST, 45, 0, 4) + every(MEDIUM, 14, 100, 40)
    for start in (0, 650, 1300, 2600):
        requests += every(REALERT, 8, start, 3)
    requests += every(STEADY, 30, 50, 100) + every(SCANNER, 20, 400, 15, "404")
    requests += every(DOWNLOADER, 12, 1000, 2, "206") + every(BOUNDARY, 10, 0, 300)
    requests += every(SPARSE, 4, 2000, 100)
    requests += [Request(T0 + 97 * i, "192.0.2.%d" % (100 + i), "200") for i in range(30)]
    return requests


def noise(n, start=0, step=60):
    """Lines that do not match the target (they count as lines read, nothing else)."""
    return [
        log_line("198.51.100.%d" % (50 + i % 5), T0 + start + i * step, "500", "/album/%d" % i)
        for i in range(n)
    ]


def log_text(requests, others=()):
    """The log of these requests and other lines, in time order (stable: equal times keep their order)."""
    timed = [(r.t, log_line(r.client, r.t, r.status)) for r in requests]
    timed += [(parse_clf(line), line) for line in others]
    return "".join(line for _, line in sorted(timed, key=lambda item: item[0]))


def parse_clf(line):
    """The epoch time of a line written by log_line."""
    stamp = line[line.index("[") + 1 : line.index("]")]
    return int(datetime.datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S %z").timestamp())


# ---------------------------------------------------------------- counting by brute force
def times_by_client(requests):
    by_client = collections.defaultdict(list)
    for r in requests:
        by_client[r.client].append(r.t)
    return {client: sorted(times) for client, times in by_client.items()}


def count_in_window(times, t, window):
    """Requests at seconds in (t - window, t]; times sorted."""
    return bisect.bisect_right(times, t) - bisect.bisect_right(times, t - window)


def brute_max_in_window(times, window):
    """The largest count in any window (m - window, m]: the best m is always a request's second."""
    return max(count_in_window(times, t, window) for t in times)


def reference_alerts(requests, window, threshold):
    """The documented rule on an in-order log, request by request: [(time, client, count)].

    A client alerts when its count within the window reaches threshold, and again
    only at a request at least one window after its last alert, if the count there
    still holds the threshold.
    """
    seen, last, alerts = collections.defaultdict(list), {}, []
    for r in sorted(requests, key=lambda r: r.t):
        seen[r.client].append(r.t)
        count = count_in_window(seen[r.client], r.t, window)
        if count >= threshold and (r.client not in last or r.t >= last[r.client] + window):
            last[r.client] = r.t
            alerts.append((r.t, r.client, count))
    return alerts


def epoch(iso):
    """Epoch seconds of the ISO 8601 text of an alert's time."""
    return int(datetime.datetime.fromisoformat(iso).timestamp())


# ---------------------------------------------------------------- reading the renderings
def section(lines, title):
    """The lines of the terminal report's section whose title starts with title, to the next empty line."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


SWEEP_ROW = re.compile(r"^  (\d+ \w+)\s+(\d+)\s+(\d+)\s+(\d+)(?:\s+(\S.*))?$")
TOP_ROW = re.compile(r"^  (\S+)\s+(\d+)\s+(\d+)\s+(\S.*?)\s+#+$")
STATUS_ROW = re.compile(r"^  (\S+)\s+(\d+)\s+(\S+%)$")
TIMELINE_ROW = re.compile(r"^  \d{4}-\d\d-\d\d(?: \d\d:\d\d)?\s+(\d+)\s*#*\s*(?:<- (\d+) alerts?)?$")


SUMMARY_LABELS = (
    "lines read",
    "matching requests",
    "distinct clients",
    "alerts",
    "late lines counted",
    "late lines ignored",
    "matching span",
    "log span",
)


def terminal_summary(lines):
    """{label: value text} of the summary block: the seven lines after "Replay summary"."""
    start = lines.index("Replay summary") + 1
    summary = {}
    for i, label in enumerate(SUMMARY_LABELS):
        line = lines[start + i]
        if not line.startswith("  " + label + " "):
            raise AssertionError("not the %r line: %r" % (label, line))
        summary[label] = line[len(label) + 2 :].strip()
    return summary


def first_int(text):
    return int(text.split()[0])


class ReportPage(html.parser.HTMLParser):
    """A report page parsed: its tables (rows of cell texts), the attributes of the top chart's
    bars and of the timeline's ticks, every start tag, all text (character references decoded)."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tables, self.bars, self.ticks, self.tags, self.data, self.headings = [], [], [], [], [], []
        self._svg, self._cell, self._heading = None, None, None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        classes = (attrs.get("class") or "").split()
        if tag == "svg":
            self._svg = classes
        elif tag == "rect" and self._svg is not None:
            if "top" in self._svg and "bar" in classes:
                self.bars.append(attrs)
            if "timeline" in self._svg and "tick" in classes:
                self.ticks.append(attrs)
        elif tag == "table":
            self.tables.append((attrs.get("class"), []))
        elif tag == "tr":
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "h2":
            self._heading = []

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "h2" and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None

    def handle_data(self, data):
        self.data.append(data)
        for into in (self._cell, self._heading):
            if into is not None:
                into.append(data)

    def table(self, first_head, second_head=None):
        """The rows (header row first) of the one table whose first header cells are these."""
        found = [
            rows
            for _, rows in self.tables
            if rows and rows[0] and rows[0][0] == first_head and second_head in (None, rows[0][1])
        ]
        if len(found) != 1:
            raise AssertionError("%d tables headed %r" % (len(found), first_head))
        return found[0]

    def summary(self):
        """{label: value} of the summary table."""
        found = [rows for css, rows in self.tables if css == "summary"]
        if len(found) != 1:
            raise AssertionError("%d summary tables" % len(found))
        return {row[0]: row[1] for row in found[0]}


# ---------------------------------------------------------------- the tests
class ReplayTest(TempDirTest):
    """Replays in process, on logs written in a temporary directory."""

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def settings(self, paths, *args, max_clients=None):
        settings = log_monitor.parse_args(["--replay"] + list(paths) + list(args))
        if max_clients is not None:
            settings.max_clients = max_clients
        return settings

    def replay_lines(self, settings):
        """Everything the replay printed, line by line; its exit status must be 0."""
        out = []
        self.assertEqual(log_monitor.run_replay(settings, out=out.append), 0)
        return out

    def replay_json(self, paths, *args, max_clients=None):
        """(alerts, report) of a replay with --json: the alert objects, then the report object."""
        out = self.replay_lines(self.settings(paths, "--json", *args, max_clients=max_clients))
        for text in out:
            self.assertNotIn("\n", text)
        return [a for a in map(json.loads, out[:-1]) if a.get("event") != "ended"], json.loads(out[-1])


class SweepTest(ReplayTest):
    # (window, threshold, --sweep-window values, the thresholds around the configured one)
    CONFIGS = (
        (600, 6, (60, 1800), [3, 6, 12, 30]),
        (300, 10, (900,), [5, 10, 20, 50]),
    )

    def test_each_sweep_row_is_what_a_replay_with_that_window_and_threshold_gives(self):
        requests = sweep_requests()
        path = self.write("access.log", log_text(requests, noise(40)))
        times = times_by_client(requests)
        for window, threshold, extra, around in self.CONFIGS:
            args = ["--window", str(window), "--threshold", str(threshold), "--top", "1000"]
            for seconds in extra:
                args += ["--sweep-window", str(seconds)]
            alerts, report = self.replay_json([path], *args)
            highest = max(brute_max_in_window(t, window) for t in times.values())
            self.assertNotIn(highest, around, "the log must make the largest count a row of its own")
            rows = {(row["window"], row["threshold"]): row for row in report["sweep"]}
            self.assertEqual(len(rows), len(report["sweep"]), "one row per window and threshold")
            expected = {(window, t) for t in around + [highest]} | {(w, t) for w in extra for t in around}
            self.assertEqual(set(rows), expected, (window, threshold))
            self.assertEqual([key for key, row in rows.items() if row["configured"]], [(window, threshold)])
            self.assertIn("the largest count any client reached", rows[(window, highest)]["note"])
            max_by_client = {row["client"]: row["max_in_window"] for row in report["top"]}
            self.assertEqual(set(max_by_client), set(times), "--top 1000 lists every client")

            configured = rows[(window, threshold)]
            self.assertEqual(configured["alerts"], len(alerts))
            self.assertEqual(configured["alerts"], report["alerts"])
            self.assertEqual(configured["clients"], len({a["client"] for a in alerts}))

            for (w, t), row in sorted(rows.items()):
                with self.subTest(configured=(window, threshold), row=(w, t)):
                    alone, _ = self.replay_json(
                        [path], "--window", str(w), "--threshold", str(t), "--top", "1000"
                    )
                    alerting = {a["client"] for a in alone}
                    self.assertEqual((row["clients"], row["alerts"]), (len(alerting), len(alone)))
                    if w == window:  # a client alerts at t exactly when its largest count reaches t
                        self.assertEqual({c for c, m in max_by_client.items() if m >= t}, alerting)
                    # the separate replay itself follows the documented rule
                    self.assertEqual(
                        [(epoch(a["time"]), a["client"], a["count"]) for a in alone],
                        reference_alerts(requests, w, t),
                    )
                    if (w, t) == (window, threshold):
                        self.assertEqual(alone, alerts, "sweep windows change no alert")

    def test_the_log_exercises_re_alerts_and_several_rates(self):
        """The sweep log is what the test above needs: re-alerts, and rows that differ."""
        requests = sweep_requests()
        by_client = collections.Counter(client for _, client, _ in reference_alerts(requests, 600, 6))
        self.assertGreaterEqual(by_client[REALERT], 4)
        self.assertGreaterEqual(by_client[STEADY], 3)
        self.assertEqual(by_client[BOUNDARY], 0)
        self.assertGreater(len(reference_alerts(requests, 60, 3)), len(reference_alerts(requests, 60, 6)))
        self.assertGreater(
            len(reference_alerts(requests, 1800, 12)), len(reference_alerts(requests, 600, 12))
        )

    def test_largest_count_reached_twice_a_window_apart(self):
        """The 'largest count' row says its alerts are at least the clients reaching it."""
        requests = every(FAST, 25, 0, 4) + every(FAST, 25, 1000, 4) + every(MEDIUM, 8, 0, 30)
        path = self.write("twice.log", log_text(requests))
        _, report = self.replay_json([path])
        row = next(row for row in report["sweep"] if row["threshold"] == 25)
        self.assertIn("the largest count any client reached", row["note"])
        alone, _ = self.replay_json([path], "--threshold", "25")
        self.assertEqual(len(alone), 2)
        self.assertEqual(row["clients"], 1)
        self.assertLessEqual(row["alerts"], len(alone))
        self.assertIn("at least", row["note"], "an undercount must say so")


class MaxInWindowTest(ReplayTest):
    def test_max_in_window_of_every_client_is_the_brute_force_count(self):
        requests = sweep_requests()
        path = self.write("access.log", log_text(requests, noise(40)))
        times = times_by_client(requests)
        for window in (600, 300, 60):
            with self.subTest(window=window):
                _, report = self.replay_json([path], "--window", str(window), "--top", "1000")
                got = {row["client"]: (row["requests"], row["max_in_window"]) for row in report["top"]}
                expected = {c: (len(t), brute_max_in_window(t, window)) for c, t in times.items()}
                self.assertEqual(got, expected)
                self.assertEqual(report["distinct_clients"], len(times))
                self.assertFalse(report["distinct_clients_upper_bound"])

    def test_max_in_window_with_lines_logged_late_as_apache_does(self):
        """Apache logs a request's start time when it ends: a line up to a window late.

        FAST's 9 requests in seconds 0-8, then one at 700, then a long one that
        started at 150 and ended after 700: the window (-450, 150] holds 10.
        """
        lines = [log_line(FAST, T0 + i) for i in range(9)]
        lines += [log_line(MEDIUM, T0 + 400), log_line(FAST, T0 + 700), log_line(FAST, T0 + 150)]
        lines += [log_line(MEDIUM, T0 + 710)]
        path = self.write("late.log", "".join(lines))
        alerts, report = self.replay_json([path], "--top", "1000")
        top = {row["client"]: row for row in report["top"]}
        fast_times = sorted([T0 + i for i in range(9)] + [T0 + 700, T0 + 150])
        self.assertEqual(report["late_counted"], 0, "every line is within a window of the newest")
        self.assertEqual([(a["client"], a["count"]) for a in alerts], [(FAST, 10)])
        self.assertEqual(top[FAST]["requests"], 11)
        self.assertEqual(
            top[FAST]["max_in_window"],
            brute_max_in_window(fast_times, 600),
            "the largest count in any window, here the one the alert was raised for",
        )
        for alert in alerts:
            self.assertGreaterEqual(top[alert["client"]]["max_in_window"], alert["count"])


class StatusTest(ReplayTest):
    def write_statuses_log(self):
        """200 matching requests: a scanner of 404s, a download manager of 206s, '-' and none."""
        requests = every(SCANNER, 57, 0, 5, "404") + every(SCANNER, 3, 300, 5, "200")
        requests += every(DOWNLOADER, 40, 10, 3, "206")
        requests += every(BOUNDARY, 8, 20, 30, "200") + [Request(T0 + 500, BOUNDARY, "-")]
        requests += [Request(T0 + 510, BOUNDARY, None)]
        requests += [Request(T0 + 7 * i, "192.0.2.%d" % (100 + i), "200") for i in range(87)]
        requests += [Request(T0 + 11 * i, "192.0.2.%d" % (200 + i), "404") for i in range(3)]
        self.assertEqual(len(requests), 200)
        return requests, self.write("statuses.log", log_text(requests, noise(30)))

    def test_status_codes_counts_and_shares(self):
        requests, path = self.write_statuses_log()
        _, report = self.replay_json([path], "--top", "3")
        self.assertEqual(report["matching"], 200)
        self.assertEqual(report["statuses"], [["200", 98], ["404", 60], ["206", 40], ["-", 2]])
        top = {row["client"]: row for row in report["top"]}
        self.assertEqual(list(top), [SCANNER, DOWNLOADER, BOUNDARY])
        self.assertEqual(top[SCANNER]["statuses"], [["404", 57], ["200", 3]])
        self.assertEqual(top[DOWNLOADER]["statuses"], [["206", 40]])
        self.assertEqual(top[BOUNDARY]["statuses"], [["200", 8], ["-", 2]])

        lines = self.replay_lines(self.settings([path], "--top", "3"))
        rows = [STATUS_ROW.match(line).groups() for line in section(lines, "Status codes")[2:]]
        self.assertEqual(
            rows, [("200", "98", "49.0%"), ("404", "60", "30.0%"), ("206", "40", "20.0%"), ("-", "2", "1.0%")]
        )
        self.assertNotIn("500", [row[0] for row in rows], "statuses of matching requests only")
        codes = {m.group(1): m.group(4) for m in map(TOP_ROW.match, section(lines, "Top ")[2:])}
        self.assertEqual(
            codes, {SCANNER: "404 95%, 200 5%", DOWNLOADER: "206 100%", BOUNDARY: "200 80%, - 20%"}
        )

    def test_status_table_of_the_html_page_is_the_reports(self):
        _, path = self.write_statuses_log()
        page_path = os.path.join(self.dir, "report.html")
        _, report = self.replay_json([path], "--html", page_path)
        with open(page_path, encoding="utf-8") as f:
            page = ReportPage(f.read())
        rows = page.table("code")
        self.assertEqual(rows[0], ["code", "requests", "share"])
        self.assertEqual([[code, int(n)] for code, n, _ in rows[1:]], report["statuses"])
        self.assertEqual([share for _, _, share in rows[1:]], ["49.0%", "30.0%", "20.0%", "1.0%"])


class TimelineTest(ReplayTest):
    def test_buckets_hold_every_matching_request_and_the_alerts_where_they_were_raised(self):
        requests = sweep_requests()
        path = self.write("access.log", log_text(requests, noise(40)))
        for window, threshold in ((600, 10), (600, 6), (60, 3)):
            with self.subTest(window=window, threshold=threshold):
                alerts, report = self.replay_json(
                    [path], "--window", str(window), "--threshold", str(threshold)
                )
                timeline = report["timeline"]
                size = timeline["bucket_seconds"]
                first = min(r.t for r in requests)
                self.assertEqual(timeline["start"], first - first % size)
                self.assertEqual(len(timeline["counts"]), len(timeline["alerts"]))
                self.assertEqual(sum(timeline["counts"]), report["matching"])
                self.assertEqual(report["matching"], len(requests))
                counts = collections.Counter((r.t - timeline["start"]) // size for r in requests)
                self.assertEqual(timeline["counts"], [counts[i] for i in range(len(timeline["counts"]))])
                self.assertEqual(sum(timeline["alerts"]), report["alerts"])
                raised = collections.Counter((epoch(a["time"]) - timeline["start"]) // size for a in alerts)
                self.assertEqual(timeline["alerts"], [raised[i] for i in range(len(timeline["alerts"]))])
                expected = collections.Counter(
                    (t - timeline["start"]) // size
                    for t, _, _ in reference_alerts(requests, window, threshold)
                )
                self.assertEqual(raised, expected)
                self.assertEqual(report["first_time"], first)
                self.assertEqual(report["last_time"], max(r.t for r in requests))


class JsonOutputTest(ReplayTest):
    def test_alerts_as_json_lines_then_the_report(self):
        first = [Request(T0 + i * 10, FAST, "200") for i in range(12)]
        first += [Request(T0 + 200 + i * 10, MEDIUM, "200") for i in range(5)]
        second = [Request(T0 + 400 + i * 10, MEDIUM, "206") for i in range(5)]
        second += [Request(T0 + 500 + i, SCANNER, "404") for i in range(10)]
        old = self.write("access.log.1", log_text(first, noise(5)))
        new = self.write("access.log", log_text(second, noise(5, start=400)))
        out = self.replay_lines(self.settings([new, old], "--json"))  # as a shell's access.log* gives them
        for text in out:
            self.assertNotIn("\n", text)
        objects = [json.loads(text) for text in out]
        alerts, report = objects[:-1], objects[-1]
        self.assertEqual(
            [(a["client"], a["count"], epoch(a["time"]), a["file"]) for a in alerts],
            [(FAST, 10, T0 + 90, old), (MEDIUM, 10, T0 + 440, new), (SCANNER, 10, T0 + 509, new)],
        )
        for alert in alerts:
            self.assertLessEqual({"time", "client", "target", "count", "window", "file"}, set(alert))
            self.assertEqual((alert["target"], alert["window"]), ("today_download", 600))
        self.assertTrue({"sweep", "top", "statuses", "timeline", "alerts_list", "matching"} <= set(report))
        self.assertEqual(report["alerts"], 3)
        self.assertEqual(report["files"], [old, new])
        self.assertEqual(
            [(a["client"], a["count"], a["time"]) for a in report["alerts_list"]],
            [(a["client"], a["count"], epoch(a["time"])) for a in alerts],
        )
        self.assertEqual(report["matching"], 32)
        self.assertEqual(report["lines"], 42)


class FloodTest(ReplayTest):
    def test_distinct_clients_is_an_upper_bound_and_the_tally_stays_within_max_clients(self):
        offender = "192.0.2.200"
        lines = []
        for i in range(1000):  # a line every half second: all within one window
            if i % 50 == 25:
                lines.append(log_line(offender, T0 + i // 2))
            lines.append(log_line("203.0.%d.%d" % (i // 200, i % 200 + 1), T0 + i // 2))
        self.assertEqual(sum(offender in line for line in lines), 20)
        path = self.write("flood.log", "".join(lines))
        tallies = []

        class RecordingTally(log_monitor.Tally):
            """The replay's Tally, recording the most client rows it ever held."""

            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.most_rows = self.most_other_rows = 0
                tallies.append(self)

            def add(self, *args, **kwargs):
                super().add(*args, **kwargs)
                self.most_rows = max(self.most_rows, len(self.rows))
                for other in self.sweep.others:
                    self.most_other_rows = max(self.most_other_rows, len(other.clients))

        page_path = os.path.join(self.dir, "flood.html")
        with mock.patch.object(log_monitor, "Tally", RecordingTally):
            with self.assertLogs("log_monitor", "WARNING") as logs:
                alerts, report = self.replay_json(
                    [path], "--sweep-window", "60", "--html", page_path, max_clients=100
                )
                text = self.replay_lines(self.settings([path], max_clients=100))
        self.assertIn("Tracking 100 clients", "\n".join(logs.output))
        self.assertEqual(len(tallies), 2)
        for tally in tallies:
            self.assertLessEqual(tally.most_rows, 100)
            self.assertLessEqual(tally.most_other_rows, 100)
        self.assertEqual([(a["client"], a["count"]) for a in alerts], [(offender, 10)])
        self.assertTrue(report["distinct_clients_upper_bound"])
        self.assertGreaterEqual(report["distinct_clients"], 1001)
        self.assertEqual(report["top"][0]["client"], offender)
        self.assertEqual((report["top"][0]["requests"], report["top"][0]["max_in_window"]), (20, 20))
        at_most = "at most %d" % report["distinct_clients"]
        self.assertTrue(terminal_summary(text)["distinct clients"].startswith(at_most))
        with open(page_path, encoding="utf-8") as f:
            self.assertTrue(ReportPage(f.read()).summary()["distinct clients"].startswith(at_most))


class HtmlEscapingTest(ReplayTest):
    def test_markup_in_log_text_and_file_names_is_escaped_in_a_real_replay(self):
        early = [
            '192.0.2.1 - - [not a time] "GET /<script>alert(2)</script>/today_download HTTP/1.1" 200 1\n',
            log_line(FAST, T0),
            '<script>alert(1)</script> - - [%s] "GET /today_download HTTP/1.1" 200 1\n' % clf_time(T0 + 1),
            "192.0.2.9 [2025-07-09T05:40:00+00:00<script>alert(4)</script>]"
            ' "GET /today_download HTTP/1.1" 200 5\n',
        ]
        early += [log_line(FAST, T0 + 2 + i) for i in range(12)]
        late = [
            log_line(FAST, T0 + 60 + i, "404", "/today_download?<script>alert(5)</script>") for i in range(3)
        ]
        hostile = self.write("<script>alert(3)<b>.log", "".join(late))
        plain = self.write("early.log", "".join(early))
        page_path = os.path.join(self.dir, "report.html")
        alerts, report = self.replay_json([hostile, plain], "--html", page_path)
        self.assertEqual([a["client"] for a in alerts], [FAST])
        reasons = {row["reason"]: row["example"] for row in report["skipped"]}
        self.assertIn("<script>alert(1)</script>", reasons["no client address"])
        self.assertIn("<script>alert(2)</script>", reasons["no readable time"])
        self.assertIn("<script>alert(3)<b>.log", report["order_note"])
        with open(page_path, encoding="utf-8") as f:
            text = f.read()
        self.assertNotIn("<script", text.lower())
        self.assertNotIn("<b>", text.lower())
        page = ReportPage(text)
        self.assertFalse({"script", "b", "img"} & {tag for tag, _ in page.tags})
        shown = "".join(page.data)
        for original in ("<script>alert(1)</script>", "<script>alert(2)</script>", "<script>alert(3)<b>.log"):
            self.assertIn(original, shown, "shown as text, escaped in the markup")
        self.assertEqual([bar["data-client"] for bar in page.bars], [FAST, "192.0.2.9"])


class SameNumbersEverywhereTest(ReplayTest):
    def test_terminal_html_and_json_of_the_sample_agree(self):
        page_path = os.path.join(self.dir, "report.html")
        done = subprocess.run(  # the README's command
            [sys.executable, "-S", SCRIPT, "--replay", os.path.relpath(SAMPLE, ROOT), "--html", page_path],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            env=dict(os.environ, COLUMNS="100"),
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        stdout = done.stdout.splitlines()
        with open(page_path, encoding="utf-8") as f:
            page = ReportPage(f.read())
        alerts, report = self.replay_json([SAMPLE])
        first_report = stdout.index("Replay summary") - 1
        lines = stdout[first_report:]

        # summary figures
        summary = terminal_summary(lines)
        html_summary = page.summary()
        html_by_start = {label.split(" (")[0]: value for label, value in html_summary.items()}
        for label, key in (
            ("lines read", "lines"),
            ("matching requests", "matching"),
            ("distinct clients", "distinct_clients"),
            ("alerts", "alerts"),
            ("late lines counted", "late_counted"),
            ("late lines ignored", "late_ignored"),
        ):
            with self.subTest(figure=label):
                self.assertEqual(first_int(summary[label]), report[key])
                self.assertEqual(first_int(html_by_start[label]), report[key])
        self.assertEqual(summary["matching span"], html_summary["time span of matching requests"])
        self.assertEqual(summary["log span"], html_summary["time span of the whole log"])
        self.assertEqual(
            len([line for line in stdout[:first_report] if "SUSPICIOUS ACTIVITY" in line]), len(alerts)
        )
        self.assertEqual(report["alerts"], len(alerts))
        self.assertIn("Alerts (%d)" % len(alerts), page.headings)

        # top clients
        json_top = [(row["client"], row["requests"], row["max_in_window"]) for row in report["top"]]
        self.assertEqual(len(json_top), 10)
        terminal_top = [TOP_ROW.match(line).groups()[:3] for line in section(lines, "Top ")[2:]]
        self.assertEqual([(c, int(r), int(m)) for c, r, m in terminal_top], json_top)
        self.assertEqual(
            [(bar["data-client"], int(bar["data-requests"])) for bar in page.bars], [t[:2] for t in json_top]
        )
        html_top = page.table("client", "requests")[1:]
        self.assertEqual([(c, int(r), int(m)) for c, r, m, _ in html_top], json_top)

        # threshold sweep
        json_sweep = [
            (log_monitor.window_text(row["window"]), row["threshold"], row["clients"], row["alerts"])
            for row in report["sweep"]
        ]
        self.assertGreaterEqual(len(json_sweep), 4)
        terminal_sweep = [
            m.groups()[:4]
            for m in map(SWEEP_ROW.match, section(lines, "Threshold sweep")[2:])
            if m is not None
        ]
        self.assertEqual([(w, int(t), int(c), int(a)) for w, t, c, a in terminal_sweep], json_sweep)
        html_sweep = page.table("window")[1:]
        self.assertEqual([(w, int(t), int(c), int(a)) for w, t, c, a, _ in html_sweep], json_sweep)
        configured = [i for i, row in enumerate(report["sweep"]) if row["configured"]]
        self.assertEqual(configured, [i for i, row in enumerate(html_sweep) if "configured" in row[4]])
        self.assertEqual(
            report["sweep"][configured[0]]["alerts"], report["alerts"], "the configured row is the replay's"
        )

        # statuses and timeline
        terminal_statuses = [
            STATUS_ROW.match(line).groups()[:2] for line in section(lines, "Status codes")[2:]
        ]
        self.assertEqual([[code, int(n)] for code, n in terminal_statuses], report["statuses"])
        self.assertEqual([[code, int(n)] for code, n, _ in page.table("code")[1:]], report["statuses"])
        terminal_timeline = [TIMELINE_ROW.match(line).groups() for line in section(lines, "Timeline")[1:]]
        self.assertEqual(sum(int(n) for n, _ in terminal_timeline), report["matching"])
        self.assertEqual(sum(int(a or 0) for _, a in terminal_timeline), report["alerts"])
        self.assertEqual(sum(int(tick["data-count"]) for tick in page.ticks), report["matching"])
        self.assertEqual(sum(int(tick["data-alerts"]) for tick in page.ticks), report["alerts"])
        self.assertEqual(sum(report["timeline"]["counts"]), report["matching"])


if __name__ == "__main__":
    unittest.main()
