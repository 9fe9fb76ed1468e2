"""A seeded fuzzer of reading a line: hostile text in every field a client writes, around real
requests, escaped as Apache and nginx escape it. Whatever the text, a line counts for its %h (or
the X-Forwarded-For position behind a trusted proxy) at its %t, or not at all, without an
exception, in time linear in its length.

    python3 -m unittest tests.test_fuzz                            # the suite's run: under 2 s
    LOG_MONITOR_FUZZ_CASES=200000 LOG_MONITOR_FUZZ_SEED=7 python3 -m unittest tests.test_fuzz
"""

import os
import random
import re
import time
import unittest

from helpers import T0, clf_time, log_monitor

CASES = int(os.environ.get("LOG_MONITOR_FUZZ_CASES", "1500"))
SEED = int(os.environ.get("LOG_MONITOR_FUZZ_SEED", "20"))
PIECES = (
    '"',
    "\\",
    '\\"',
    "\\\\",
    "\\x22",
    "[",
    "]",
    " ",
    ", ",
    ",",
    "-",
    " - ",
    "%",
    "%74",
    ":",
    "today_download",
    "%74oday_download",
    "GET /today_download HTTP/1.1",
    "[01/Jan/2099:00:00:00 +0000]",
    "2099-01-01T00:00:00Z",
    "[09/Jul/2025:",
    "203.0.113.66",
    "2001:db8::66",
    "10.0.0.5",
    "::ffff:203.0.113.66",
    "\x1b[2J",
    "\t",
    "<script>",
    "$(id)",
)
TRUSTED = "10.0.0.0/8"


def hostile(rng):
    """Random text of the pieces; now and then a long run (up to about 64 KB)."""
    parts = [rng.choice(PIECES) for _ in range(rng.randrange(12))]
    if rng.random() < 0.03:
        parts.append(rng.choice(('"A \\', "\\xff", "[", '\\"', "a, ", "9")) * rng.randrange(1000, 16000))
    return "".join(parts)


def apache(text):
    """text as Apache logs a header or %u: backslash and quote escaped, bytes beyond ASCII as \\xhh."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")


def nginx(text):
    """text as nginx logs a variable: quote and backslash as \\x22 and \\x5C."""
    return text.replace("\\", "\\x5C").replace('"', "\\x22").replace("\t", "\\x09")


def case(rng):
    """(line bytes, expected client or None, expected second, whether it requests the target)."""
    escape = rng.choice((apache, nginx))
    client = rng.choice(("198.51.100.%d" % rng.randrange(1, 255), "2001:db8::%x" % rng.randrange(1, 65535)))
    t = T0 + rng.randrange(86400)
    path = "/today_download" if rng.random() < 0.7 else "/other"
    query = escape(hostile(rng)).replace(" ", "%20")  # a request line holds no raw space
    user = rng.choice(("-", "-", escape(hostile(rng)) or "-"))
    referer, agent = escape(hostile(rng)), escape(hostile(rng))
    request = "GET %s?%s HTTP/1.1" % (path, query)
    proxied = rng.random() < 0.2
    host = "10.0.0.5" if proxied else client
    line = '%s - %s [%s] "%s" %d 5 "%s" "%s"' % (host, user, clf_time(t), request, 200, referer, agent)
    if proxied:  # nginx's Combined + "$http_x_forwarded_for": a client's text, then the proxy's entry
        line += ' "%s"' % escape(hostile(rng) + ", " + client)
    if rng.random() < 0.2:
        line = "Nov 23 06:59:06 web1 apache: " + line
    decoded = re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), request)
    return line.encode("utf-8", "surrogateescape"), client, t, "today_download" in decoded


class FuzzTest(unittest.TestCase):
    def test_hostile_fields_never_name_another_client_or_time_nor_cost_more_than_linear_time(self):
        rng = random.Random(SEED)
        parser = log_monitor.LineParser("today_download", trusted=[TRUSTED])
        counted = 0
        for n in range(CASES):
            line, client, t, wanted = case(rng)
            start = time.process_time()
            found = parser.request(line, 0, len(line))
            runs = parser.scan(line + b"\n", None)
            spent = time.process_time() - start
            where = "case %d (seed %d): %r" % (n, SEED, line[:300])
            self.assertLess(spent, 0.02 + 1e-6 * len(line), where)  # linear: 64 KB in well under 0.1 s
            if found is None:
                self.assertFalse(wanted and len(line) <= log_monitor.MAX_LINE_BYTES, where)
                self.assertEqual(runs, [], where)
                continue
            counted += 1
            self.assertTrue(wanted, where)
            self.assertEqual(found[:2], (client, t), where)
            self.assertEqual([run[:2] for run in runs], [(client, t)], where)
        self.assertGreater(counted, CASES // 3)  # most requests for the target counted


if __name__ == "__main__":
    unittest.main()
