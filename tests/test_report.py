"""The replay report renderers (issue 12): terminal text, HTML with inline SVG, JSON.

The report dicts are built here directly, as the replay's single pass would
produce them: no log lines, no files, no processes.
"""

import copy
import datetime
import html.parser
import json
import re
import unittest
import xml.etree.ElementTree as ET

from helpers import log_monitor

START = 1752037200  # 2025-07-09T05:00:00Z, a whole hour
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "]]>",
    "\x1b[31mred\x1b[0m",
]
ROUND_SIZES = {60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800}
TEXT_SECTIONS = (
    "Not counted",
    "Threshold sweep",
    "Status codes of matching requests",
    "Timeline of matching requests",
    "Top ",
)


def make_report(minutes=60, top=None, **changes):
    """A plausible report: `minutes` per-minute buckets from START, 3 alerts in minute 15, 1 in 40."""
    counts = [(i * 7 + 1) % 13 for i in range(minutes)]  # none at 05:11, 05:24, 05:37, ...
    alerts = [0] * minutes
    if minutes > 40:
        alerts[15], alerts[40] = 3, 1
    if top is None:
        top = [
            {
                "client": "198.51.100.7",
                "requests": 120,
                "max_in_window": 45,
                "statuses": [["200", 100], ["404", 20]],
            },
            {"client": "203.0.113.50", "requests": 60, "max_in_window": 12, "statuses": [["206", 60]]},
            {
                "client": "192.0.2.1",
                "requests": 30,
                "max_in_window": 9,
                "statuses": [["404", 27], ["200", 3]],
            },
            {"client": "2001:db8::/64", "requests": 1, "max_in_window": 1, "statuses": [["200", 1]]},
        ]
    report = {
        "version": "1.1.0",
        "files": ["access.log.2.gz", "access.log.1", "access.log"],
        "order_note": None,
        "target": "today_download",
        "window": 600,
        "threshold": 10,
        "utc": True,
        "lines": 1000000,
        "matching": sum(counts),
        "distinct_clients": 12345,
        "distinct_clients_upper_bound": False,
        "alerts": sum(alerts),
        "late_counted": 7,
        "late_ignored": 2,
        "first_time": START,
        "last_time": START + minutes * 60 - 1,
        "log_first_time": START - 60,
        "log_last_time": START + minutes * 60 + 29,
        "skipped": [{"reason": "no client address", "count": 3, "example": "host.example.com"}],
        "proxied_hint": None,
        "statuses": [["200", 900], ["206", 80], ["404", 20], ["-", 1]],
        "top": top,
        "timeline": {"start": START, "bucket_seconds": 60, "counts": counts, "alerts": alerts},
        "sweep": [
            {"window": 600, "threshold": 5, "clients": 40, "alerts": 52, "configured": False, "note": ""},
            {"window": 600, "threshold": 10, "clients": 5, "alerts": 4, "configured": True, "note": ""},
            {
                "window": 600,
                "threshold": 45,
                "clients": 1,
                "alerts": 1,
                "configured": False,
                "note": "the largest count any client reached",
            },
            {"window": 60, "threshold": 10, "clients": 2, "alerts": 2, "configured": False, "note": ""},
        ],
        "alerts_list": [{"time": START + 900, "client": "198.51.100.7", "count": 10}],
    }
    report.update(changes)
    return report


def empty_report():
    """What a replay that matched nothing gives."""
    return make_report(
        minutes=0,
        top=[],
        matching=0,
        distinct_clients=0,
        alerts=0,
        late_counted=0,
        late_ignored=0,
        first_time=None,
        last_time=None,
        statuses=[],
        sweep=[],
        alerts_list=[],
    )


def section(lines, title):
    """The lines of the text section whose title starts with title, up to the next empty line."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


class Page(html.parser.HTMLParser):
    """An HTML page parsed: every start tag with its attributes, and the text of each <svg>...</svg>."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.tags, self.svgs, self._svg_start = [], [], None
        self.feed(text)
        self.close()

    def _offset(self):
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "svg":
            self._svg_start = self._offset()

    def handle_endtag(self, tag):
        if tag == "svg":
            end = self.text.index(">", self._offset()) + 1
            self.svgs.append(ET.fromstring(self.text[self._svg_start : end]))


def svg_of(page, css_class):
    """The parsed <svg> element of the page with this class."""
    found = [svg for svg in page.svgs if css_class in svg.get("class", "").split()]
    if len(found) != 1:
        raise AssertionError("%d svg elements of class %r" % (len(found), css_class))
    return found[0]


def rects(svg, css_class):
    """The <rect> elements of an svg with this class, in document order."""
    return [r for r in svg.iter("rect") if css_class in r.get("class", "").split()]


class TextReportTest(unittest.TestCase):
    def test_summary_lines(self):
        report = make_report(utc=False)
        lines = log_monitor.report_lines(report, 10, 80)
        span = "%s to %s (%s)" % (
            log_monitor.iso_time(START),
            log_monitor.iso_time(START + 3599),
            datetime.timedelta(seconds=3599),
        )
        log_span = "%s to %s (%s)" % (
            log_monitor.iso_time(START - 60),
            log_monitor.iso_time(START + 3629),
            datetime.timedelta(seconds=3689),
        )
        self.assertEqual(
            lines[:10],
            [
                "",
                "Replay summary",
                "  lines read         1000000",
                "  matching requests  %d" % report["matching"],
                "  distinct clients   12345",
                "  alerts             4",
                "  late lines counted 7 (older than the window: counted at the newest time)",
                "  late lines ignored 2",
                "  matching span      " + span,  # of the matching requests
                "  log span           " + log_span,  # of every line, beside it
            ],
        )
        self.assertEqual(lines[10], "  files              access.log.2.gz, access.log.1, access.log")

    def test_distinct_clients_upper_bound(self):
        report = make_report(distinct_clients=200001, distinct_clients_upper_bound=True)
        text = log_monitor.report_lines(report, 10, 80)
        self.assertEqual(
            text[4],
            "  distinct clients   at most 200001"
            " (over MAX_TRACKED_IPS: one-request clients were not all kept)",
        )
        self.assertIn("at most 200001", log_monitor.report_html(report))

    def test_top_clients_bars_labels_order_and_lengths(self):
        lines = log_monitor.report_lines(make_report(), 10, 100)
        top = section(lines, "Top ")
        self.assertEqual(top[0], "Top 4 clients by matching requests (an alert at 10 in any 10 minutes)")
        self.assertEqual(
            top[1].split(), ["client", "requests", "max", "in", "10", "minutes", "status", "codes"]
        )
        rows = [line.split() for line in top[2:]]
        self.assertEqual([r[0] for r in rows], ["198.51.100.7", "203.0.113.50", "192.0.2.1", "2001:db8::/64"])
        self.assertEqual([r[1:3] for r in rows], [["120", "45"], ["60", "12"], ["30", "9"], ["1", "1"]])
        self.assertEqual(rows[0][3:7], ["200", "83%,", "404", "17%"])
        self.assertEqual(rows[2][3:7], ["404", "90%,", "200", "10%"])
        bars = [len(r[-1]) for r in rows]
        self.assertTrue(all(set(r[-1]) == {"#"} for r in rows), rows)
        self.assertEqual(bars[3], 1, "at least one # however small")
        for i, requests in enumerate((120, 60, 30, 1)):
            self.assertAlmostEqual(bars[i], bars[0] * requests / 120, delta=1)
        self.assertGreater(bars[0], 20, "bars use the width")
        self.assertTrue(all(len(line) <= 100 for line in top))

    def test_top_argument_limits_rows(self):
        top = section(log_monitor.report_lines(make_report(), 2, 80), "Top ")
        self.assertTrue(top[0].startswith("Top 2 clients"))
        self.assertEqual(len(top), 4)

    def test_lines_fit_the_width(self):
        ipv6 = "2001:db8:85a3:1234:5678:8a2e:370:7334"
        report = make_report(
            minutes=3 * 1440,
            order_note="replayed in the order of their first timestamps: "
            + ", ".join("access.log.%d" % i for i in range(12))
            + " (given: the reverse)",
            proxied_hint="Every request comes from 10.0.0.1, a private address: the log looks proxied; "
            "log the client address with %{X-Forwarded-For}i or mod_remoteip and replay again.",
            files=["/var/log/apache2/site-%02d/access.log" % i for i in range(8)],
        )
        report["top"][1]["client"] = ipv6
        report["skipped"].append({"reason": "line too long", "count": 1, "example": "x" * 5000})
        for width in (20, 80, 100, 200):
            lines = log_monitor.report_lines(report, 10, width)
            for line in lines[10:]:  # the summary's figures and spans are one line each
                if line.strip() != ipv6:
                    self.assertLessEqual(len(line), max(width, 80), (width, line))
        self.assertIn("  " + ipv6, log_monitor.report_lines(report, 10, 80))  # too wide for its column
        self.assertNotIn("  " + ipv6, log_monitor.report_lines(report, 10, 120))

    def test_sweep_table(self):
        sweep = section(log_monitor.report_lines(make_report(), 10, 80), "Threshold sweep")
        rows = [line.split(None, 5) for line in sweep[2:]]
        self.assertEqual(sweep[1].split(), ["window", "threshold", "clients", "alerts", "note"])
        self.assertEqual(len(rows), 4)
        self.assertEqual(rows[1][:6], ["10", "minutes", "10", "5", "4", "<- configured"])
        self.assertEqual(rows[2][5], "the largest count any client reached")
        self.assertEqual(rows[3][:5], ["1", "minute", "10", "2", "2"])
        self.assertEqual([len(r) for r in rows], [5, 6, 6, 5])

    def test_status_codes_with_shares(self):
        statuses = section(log_monitor.report_lines(make_report(), 10, 80), "Status codes")
        self.assertEqual(
            [line.split() for line in statuses[1:]],
            [
                ["code", "requests", "share"],
                ["200", "900", "89.9%"],
                ["206", "80", "8.0%"],
                ["404", "20", "2.0%"],
                ["-", "1", "<0.1%"],
            ],
        )

    def test_not_counted(self):
        lines = log_monitor.report_lines(make_report(), 10, 80)
        self.assertEqual(
            [line.split() for line in section(lines, "Not counted")[1:]],
            [["reason", "lines", "example"], ["no", "client", "address", "3", "host.example.com"]],
        )

    def test_timeline_regrouped_to_round_buckets(self):
        minutes = 3 * 1440
        report = make_report(minutes=minutes)
        size, groups = log_monitor.regroup_timeline(report["timeline"], 48, utc=True)
        self.assertIn(size, ROUND_SIZES)
        self.assertLessEqual(len(groups), 48)
        self.assertGreaterEqual(len(groups), 24)
        self.assertTrue(all(start % size == 0 for start, _, _ in groups), "buckets start on the clock")
        self.assertEqual(sum(g[1] for g in groups), report["matching"])
        self.assertEqual(sum(g[2] for g in groups), 4)
        # the smallest round size that fits: half of it would not
        self.assertGreater(minutes * 60 // (size // 2), 48)

        timeline = section(log_monitor.report_lines(report, 10, 80), "Timeline")
        self.assertEqual(
            timeline[0], "Timeline of matching requests (per %s, UTC)" % log_monitor.bucket_text(size)
        )
        self.assertEqual(len(timeline) - 1, len(groups))
        self.assertEqual(timeline[1].split()[:2], ["2025-07-09", "04:00"])  # 05:00 in a 2-hour bucket
        self.assertEqual(sum(int(line.split()[2]) for line in timeline[1:]), report["matching"])

    def test_timeline_keeps_fine_buckets_and_marks_alerts(self):
        report = make_report(minutes=45)
        timeline = section(log_monitor.report_lines(report, 10, 80), "Timeline")
        self.assertEqual(timeline[0], "Timeline of matching requests (per 1 minute, UTC)")
        self.assertEqual(len(timeline) - 1, 45)
        marked = [(line.split()[1], line.split("<-")[1].strip()) for line in timeline[1:] if "<-" in line]
        self.assertEqual(marked, [("05:15", "3 alerts"), ("05:40", "1 alert")])
        counts = [int(line.split()[2]) for line in timeline[1:]]
        self.assertEqual(counts, report["timeline"]["counts"])
        for i, count in enumerate(counts):
            self.assertEqual(timeline[i + 1].count("#") == 0, count == 0, timeline[i + 1])

    def test_timeline_beyond_the_round_sizes_and_coarse_input(self):
        timeline = {"start": START, "bucket_seconds": 3600, "counts": [1] * (24 * 400), "alerts": []}
        size, groups = log_monitor.regroup_timeline(timeline, 48, utc=True)
        self.assertEqual(size % 604800, 0)
        self.assertLessEqual(len(groups), 48)
        self.assertEqual(sum(g[1] for g in groups), 24 * 400)
        odd = {
            "start": START + 7,
            "bucket_seconds": 120,
            "counts": [0, 2, 0, 5, 0],
            "alerts": [0, 0, 0, 1, 0],
        }
        size, groups = log_monitor.regroup_timeline(odd, 48, utc=True)
        self.assertEqual((size, sum(g[1] for g in groups), sum(g[2] for g in groups)), (120, 7, 1))
        # the empty buckets before the first request and after the last are dropped, not between
        self.assertEqual([g[1] for g in groups], [2, 0, 5])

    def test_empty_report(self):
        lines = log_monitor.report_lines(empty_report(), 10, 80)
        self.assertEqual(lines[8], "  matching span      no matching request")
        text = "\n".join(lines)
        for title in TEXT_SECTIONS[1:]:
            self.assertNotIn("\n" + title, text)
        self.assertIn("Not counted", text, "why nothing matched is still worth showing")
        page = Page(log_monitor.report_html(empty_report()))
        self.assertEqual(page.svgs, [])
        self.assertIn("no matching request", page.text)

    def test_no_control_characters_from_the_log(self):
        report = make_report(
            files=HOSTILE,
            order_note="order \x1b[2J note",
            proxied_hint="hint\r\nwith a break",
            skipped=[{"reason": "bad\x07reason", "count": 1, "example": h} for h in HOSTILE],
            statuses=[["2\x1b0", 5]],
        )
        for client in HOSTILE + ["\udcff\x00tab\there"]:
            report["top"].append(
                {"client": client, "requests": 1, "max_in_window": 1, "statuses": [["\x1b", 1]]}
            )
        lines = log_monitor.report_lines(report, 20, 80)
        for line in lines:
            self.assertTrue(line.isprintable(), repr(line))
        text = "\n".join(lines)
        self.assertIn("?[31mred?[0m", text)
        self.assertIn("??tab?here", text)
        self.assertIn("<script>alert(1)</script>", text, "plain text needs no markup escaping")


class HtmlReportTest(unittest.TestCase):
    def test_bar_chart_of_top_clients(self):
        report = make_report()
        svg = svg_of(Page(log_monitor.report_html(report)), "top")
        bars = rects(svg, "bar")
        self.assertEqual(len(bars), 4)
        self.assertEqual([b.get("data-client") for b in bars], [row["client"] for row in report["top"]])
        self.assertEqual([int(b.get("data-requests")) for b in bars], [120, 60, 30, 1])
        widths = [float(b.get("width")) for b in bars]
        for i, requests in enumerate((120, 60, 30, 1)):
            self.assertAlmostEqual(widths[i], widths[0] * requests / 120, delta=0.01)
        self.assertEqual(len({b.get("x") for b in bars}), 1, "bars start together")
        ys = [float(b.get("y")) for b in bars]
        self.assertEqual(ys, sorted(ys), "most first, top down")
        texts = [t.text for t in svg.iter("text")]
        for row, bar in zip(report["top"], bars):  # noqa: B905 (3.9 has no strict=)
            self.assertIn(row["client"], texts)
            self.assertIn("%d (peak %d)" % (row["requests"], row["max_in_window"]), texts)  # total, peak
            self.assertEqual(int(bar.get("data-peak")), row["max_in_window"])
            alerted = row["max_in_window"] >= report["threshold"]
            self.assertEqual("alerted" in bar.get("class").split(), alerted, row)  # marked, in red
        self.assertIn("alerted", [b.get("class").split()[-1] for b in bars])
        self.assertIn('<span class="swatch"></span> alerted', log_monitor.report_html(report))  # the legend

    def test_timeline_chart(self):
        report = make_report(minutes=3 * 1440)
        svg = svg_of(Page(log_monitor.report_html(report)), "timeline")
        ticks = rects(svg, "tick")
        self.assertLessEqual(len(ticks), 120)
        self.assertGreaterEqual(len(ticks), 40)
        self.assertEqual(sum(int(t.get("data-count")) for t in ticks), report["matching"])
        size = int(ticks[1].get("data-start")) - int(ticks[0].get("data-start"))
        self.assertIn(size, ROUND_SIZES)
        marks = rects(svg, "alert")
        self.assertEqual(sum(int(m.get("data-alerts")) for m in marks), 4)
        alerted = {t.get("data-start") for t in ticks if int(t.get("data-alerts"))}
        self.assertEqual({m.get("data-start") for m in marks}, alerted)
        heights = [float(t.get("height")) for t in ticks]
        counts = [int(t.get("data-count")) for t in ticks]
        most = max(counts)
        for i, count in enumerate(counts):
            self.assertAlmostEqual(heights[i], max(heights) * count / most, delta=0.01)

    def test_tables(self):
        report = make_report(
            order_note="replayed in the order of their first timestamps: b, a (given: a, b)",
            proxied_hint="the log looks proxied",
        )
        page = Page(log_monitor.report_html(report))
        for text in (
            "Threshold sweep",
            "the largest count any client reached",
            "Status codes of matching requests",
            "89.9%",
            "Not counted",
            "host.example.com",
            "Alerts (1)",
            "replayed in the order of their first timestamps",
            "the log looks proxied",
            "max in any 10 minutes window",
            "200 83%, 404 17%",
        ):
            self.assertIn(text, page.text)
        self.assertIn(("tr", {"class": "configured"}), page.tags)
        title = page.text[page.text.index("<title>") : page.text.index("</title>")]
        self.assertIn("access.log.2.gz, access.log.1, access.log", title)
        self.assertIn(log_monitor.iso_time(START, True), title)

    def test_self_contained(self):
        for report in (make_report(), make_report(files=HOSTILE), empty_report()):
            text = log_monitor.report_html(report)
            lowered = text.lower()
            for bad in ("http://", "https://", "<script", "<link", "<img", "@import", "url(", "<iframe"):
                self.assertNotIn(bad, lowered)
            self.assertTrue(lowered.startswith("<!doctype html>"))
            page = Page(text)
            for tag, attrs in page.tags:
                self.assertNotIn(tag, ("script", "link", "img", "iframe", "object", "embed", "image", "use"))
                self.assertFalse({"src", "href", "xlink:href"} & set(attrs), (tag, attrs))
                self.assertFalse([a for a in attrs if a.startswith("on")], (tag, attrs))

    def test_log_text_is_escaped(self):
        report = make_report(
            files=HOSTILE,
            order_note=HOSTILE[1],
            proxied_hint=HOSTILE[0],
            target="<b>t</b>",
            skipped=[{"reason": h, "count": 1, "example": h} for h in HOSTILE],
            statuses=[[h, 1] for h in HOSTILE],
            alerts_list=[{"time": START, "client": h, "count": 10} for h in HOSTILE],
        )
        report["sweep"][0]["note"] = HOSTILE[0]
        report["top"] = [
            {"client": h, "requests": 10 - i, "max_in_window": 3, "statuses": [[h, 1]]}
            for i, h in enumerate(HOSTILE)
        ]
        text = log_monitor.report_html(report)
        self.assertNotIn("<script", text.lower())
        self.assertNotIn("\x1b", text)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", text)
        page = Page(text)
        self.assertNotIn("img", {tag for tag, _ in page.tags})
        self.assertNotIn("b", {tag for tag, _ in page.tags})
        clean = [h.replace("\x1b", "?") for h in HOSTILE]
        bars = rects(svg_of(page, "top"), "bar")
        self.assertEqual([b.get("data-client") for b in bars], clean)
        labels = [t.text for t in svg_of(page, "top").iter("text") if t.get("class") == "label"]
        self.assertEqual(labels, clean)

    def test_empty_report(self):
        text = log_monitor.report_html(empty_report())
        self.assertEqual(Page(text).svgs, [])
        self.assertNotIn("Top ", text)


class JsonReportTest(unittest.TestCase):
    def test_one_line_round_trip(self):
        report = make_report(files=HOSTILE)
        text = log_monitor.report_json(report)
        self.assertNotIn("\n", text)
        self.assertEqual(json.loads(text), report)
        self.assertEqual(text, json.dumps(copy.deepcopy(report), sort_keys=True))
        self.assertEqual(json.loads(log_monitor.report_json(empty_report()))["first_time"], None)


if __name__ == "__main__":
    unittest.main()
