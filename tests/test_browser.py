"""The --html report in a real headless Chromium: on a narrow screen nothing makes the page
scroll sideways, no chart text is clipped, and the timeline's axis labels never overlap, from
one bucket to many. Skipped without Chromium (Debian: apt install chromium)."""

import atexit
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from helpers import T0, append, burst, clf, log_monitor

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
SAMPLE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "sample_access.log"
)

# Run in the harness page once every report has loaded: each report's page width against its
# frame's, and the box of every text of every chart, as the browser laid them out.
PROBE = """<script>
window.addEventListener("load", function () {
  var pages = [];
  document.querySelectorAll("iframe").forEach(function (frame) {
    var doc = frame.contentDocument, charts = [];
    doc.querySelectorAll("svg").forEach(function (svg) {
      var texts = [];
      svg.querySelectorAll("text").forEach(function (t) {
        var b = t.getBBox();
        texts.push({cls: t.getAttribute("class"), text: t.textContent, x: b.x, y: b.y, w: b.width});
      });
      charts.push({cls: svg.getAttribute("class"), width: svg.viewBox.baseVal.width, texts: texts});
    });
    pages.push({name: frame.id, scroll: doc.documentElement.scrollWidth,
                width: doc.documentElement.clientWidth, charts: charts});
  });
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(pages);
  document.body.appendChild(out);
});
</script>"""


def report(directory, name, text=None):
    """The HTML report of a replay of the log text (or of the sample log)."""
    path = SAMPLE
    if text is not None:
        path = os.path.join(directory, name + ".log")
        append(path, text)
    settings = log_monitor.parse_args(["--replay", path, "--utc"])
    return log_monitor.report_html(log_monitor.replay(settings, lambda alert: None))


def start_browser():
    """Chromium laying out four reports at 360 px, started when the module is imported so that it
    works while the other tests run: (the process, its stdout file, the names of the pages)."""
    directory = tempfile.mkdtemp(prefix="log_monitor-browser-")
    atexit.register(shutil.rmtree, directory, True)
    pages = {
        "sample": report(directory, "sample"),
        "one_bucket": report(directory, "one", clf("203.0.113.5", T0)),
        "two_buckets": report(directory, "two", clf("203.0.113.5", T0) + clf("203.0.113.5", T0 + 60)),
        "long_names": report(directory, "long", burst("2001:db8:85a3:1234:5678:8a2e:370:7334", 12)),
    }
    frames = "".join(
        '<iframe id="%s" width="360" height="700" srcdoc="%s"></iframe>' % (name, html.escape(page))
        for name, page in pages.items()
    )
    harness = os.path.join(directory, "harness.html")
    with open(harness, "w") as f:
        f.write("<!DOCTYPE html><html><body>%s%s</body></html>" % (frames, PROBE))
    out = open(os.path.join(directory, "dom.html"), "w+")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
        + ["--dump-dom", "file://" + harness],
        stdout=out,
        stderr=subprocess.PIPE,
        text=True,
    )
    atexit.register(proc.kill)  # a run that leaves this test out
    return proc, out, sorted(pages)


BROWSER = start_browser() if CHROMIUM else None


@unittest.skipUnless(CHROMIUM, "Chromium is not installed (Debian: apt install chromium)")
class BrowserTest(unittest.TestCase):
    def test_narrow_screens_clipped_text_and_axis_labels_from_one_bucket_to_many(self):
        proc, out, pages = BROWSER
        _, stderr = proc.communicate(timeout=60)
        out.seek(0)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), stderr)
        out.close()
        found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
        self.assertIsNotNone(found, done.stderr[-2000:])
        measured = {page["name"]: page for page in json.loads(html.unescape(found.group(1)))}
        self.assertEqual(sorted(measured), pages)
        for name, page in measured.items():
            with self.subTest(page=name):
                self.assertLessEqual(page["scroll"], page["width"], "the page scrolls sideways at 360 px")
                self.assertEqual(sorted(c["cls"] for c in page["charts"]), ["timeline", "top"])
                for chart in page["charts"]:
                    for t in chart["texts"]:  # inside the chart's own box: not clipped
                        self.assertGreaterEqual(t["x"], -0.5, (chart["cls"], t))
                        self.assertLessEqual(t["x"] + t["w"], chart["width"] + 0.5, (chart["cls"], t))
                timeline = next(c for c in page["charts"] if c["cls"] == "timeline")
                bottom = max(t["y"] for t in timeline["texts"])
                labels = sorted((t for t in timeline["texts"] if t["y"] == bottom), key=lambda t: t["x"])
                self.assertTrue(labels)
                for left, right in zip(labels, labels[1:]):  # noqa: B905 (3.9 has no strict=)
                    self.assertLess(left["x"] + left["w"], right["x"], (left, right))  # never overlapping
                texts = [t["text"] for t in labels]
                self.assertEqual(len(texts), len(set(texts)), texts)  # one bucket: its label once
