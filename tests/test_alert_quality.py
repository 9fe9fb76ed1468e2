"""Fewer false alarms: IPv4 clients counted per /N (--ipv4-prefix), and a download manager's
byte ranges counted once (--ranges-once). Real files, real processes."""

import json
import os
import subprocess
import time

from helpers import RECENT, ROOT, T0, TempDirTest, append, log_monitor, script_argv


def line(ip, t, path, status, agent="aria2/1.36.0"):
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t))
    return '%s - - [%s] "GET %s HTTP/1.1" %d 1048576 "-" "%s"\n' % (ip, stamp, path, status, agent)


def download_manager(ip, t, album, segments=16):
    """One download in segments, as aria2c -x 16 -s 16 logs it: one 200, then 206s."""
    path = "/today_download?album=%d" % album
    return line(ip, t, path, 200) + "".join(line(ip, t + i // 4, path, 206) for i in range(segments - 1))


def follow(test, name, *flags):
    """A dry-run daemon of test following a new empty log name, polling every 20 ms: (path, daemon)."""
    log = os.path.join(test.dir, name)
    append(log, "")
    d = test.daemon("--log-file", log, "--dry-run", "--interval", "0.02", *flags)
    d.wait_for("Following")
    return log, d


def replay(*args):
    done = subprocess.run(script_argv(["--replay", *args]), capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    return [text.split(" ", 1)[1] for text in done.stdout.splitlines() if "SUSPICIOUS" in text], done.stdout


class RangesOnceTest(TempDirTest):
    def log(self, text):
        path = os.path.join(self.dir, "access.log")
        append(path, text)
        return path

    def test_one_download_in_16_segments_counts_once_and_a_scraper_of_albums_still_alerts(self):
        text = download_manager("198.51.100.20", T0, 7)
        text += "".join(
            line("203.0.113.50", T0 + 30 + i, "/today_download?album=%d" % i, 200) for i in range(10)
        )
        path = self.log(text)
        alerts, _ = replay(path)  # without: 16 lines are 16 downloads, a false alarm
        self.assertEqual(
            [a.split(" IP ")[1].split(" ")[0] for a in alerts], ["198.51.100.20", "203.0.113.50"]
        )
        alerts, report = replay(path, "--ranges-once")
        self.assertEqual(
            alerts, ["SUSPICIOUS ACTIVITY: IP 203.0.113.50 accessed today_download 10 times in 10 minutes"]
        )
        self.assertIn("range already counted (--ranges-once)", report)  # not counted, and said so
        self.assertIn("matching requests  11", report)  # the download once, and the scraper's 10

    def test_ten_albums_each_in_segments_are_ten_downloads(self):
        text = "".join(download_manager("198.51.100.21", T0 + 20 * i, i) for i in range(10))
        alerts, _ = replay(self.log(text), "--ranges-once")  # 10 albums in 16 segments each: 10 downloads
        self.assertEqual(
            alerts, ["SUSPICIOUS ACTIVITY: IP 198.51.100.21 accessed today_download 10 times in 10 minutes"]
        )

    def test_a_range_counts_again_a_window_later_and_200s_always_count(self):
        path = "/today_download?album=1"
        text = "".join(line("198.51.100.22", T0 + i * 61, path, 206) for i in range(10))  # once a window
        text += "".join(line("198.51.100.23", T0 + i, path, 200) for i in range(10))  # a re-download loop
        # before (the second hostile review of issue 22): after one counted 206, every 200 of the
        # window was folded into it: one tiny range, then 29 whole downloads, counted once
        text += line("198.51.100.27", T0, path, 206) + "".join(
            line("198.51.100.27", T0 + i, path, 200) for i in range(1, 12)
        )
        alerts, _ = replay(self.log(text), "--ranges-once", "--window", "60")
        self.assertEqual(
            alerts,
            [
                "SUSPICIOUS ACTIVITY: IP 198.51.100.23 accessed today_download 10 times in 1 minute",
                "SUSPICIOUS ACTIVITY: IP 198.51.100.27 accessed today_download 10 times in 1 minute",
            ],
        )
        parser = log_monitor.LineParser("today_download", ranges_window=60)
        parser.max_ranges = 100
        data = "".join(line("198.51.100.24", T0, "/today_download?album=%d" % i, 206) for i in range(1000))
        data = data.encode()
        runs = parser.scan(data, None)
        self.assertEqual(sum(n for *_, n in runs), 1000)  # distinct targets: each counts
        self.assertLessEqual(len(parser.ranges), 100)  # and the table stays bounded

    def test_live_daemon_counts_a_download_once(self):
        log, d = follow(self, "access.log", "--ranges-once", "--threshold", "3")
        append(
            log,
            download_manager("198.51.100.25", RECENT, 1) + download_manager("198.51.100.26", RECENT, 2, 2),
        )
        append(log, line("198.51.100.26", RECENT + 5, "/today_download?album=3", 200))
        append(log, line("198.51.100.26", RECENT + 6, "/today_download?album=4", 200))
        d.wait_for("SUSPICIOUS ACTIVITY: IP 198.51.100.26 accessed today_download 3 times", "out")
        d.wait_read(20)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(len(d.out), 1, d.out)  # 198.51.100.25: 16 lines, one download

    def test_lines_read_the_long_way_count_with_it_too(self):
        # before (the hostile review): the long way reads a bytearray, unhashable as a key of the
        # table of downloads: a percent-encoded target, or AWS's layout, ended a replay with a
        # traceback, and live lost every request of the pass
        pct = line("203.0.113.7", RECENT, "/today%5Fdownload", 206)
        downloads = "".join(
            line("198.51.100.50", RECENT + i, "/today_download?album=%d" % i, 200) for i in range(3)
        )
        aws = "".join(
            line("203.0.113.8, 10.1.0.7 10.0.0.5", RECENT + i, "/today_download?album=%d" % i, 200)
            for i in range(3)
        )
        path = self.log(pct + downloads + aws)
        alerts, report = replay(path, "--ranges-once", "--threshold", "3", "--trusted-proxy", "10.0.0.0/8")
        self.assertEqual(
            [a.split(" IP ")[1].split(" ")[0] for a in alerts], ["198.51.100.50", "203.0.113.8"], report
        )
        log, d = follow(self, "live.log", "--ranges-once", "--threshold", "3")
        append(log, pct + downloads)  # one pass
        d.wait_for("SUSPICIOUS ACTIVITY: IP 198.51.100.50 accessed today_download 3 times", "out")
        self.assertEqual(d.stop(), 0)
        self.assertFalse([text for text in d.err if "Error" in text], d.err)

    def test_the_table_of_downloads_holds_no_request_target(self):
        # before (the hostile review): 70,000 distinct 8 KB targets held 0.5 GB with --ranges-once
        parser = log_monitor.LineParser("today_download", ranges_window=600)
        for i in range(50):
            request = b"GET /today_download?%08d%s HTTP/1.1" % (i, b"a" * 8000)
            self.assertFalse(parser._range_seen("2001:db8::%x" % i, bytearray(request), T0, False))
        self.assertEqual(len(parser.ranges), 50)
        self.assertTrue(all(len(repr(mark)) < 100 for mark in parser.ranges), "a target kept whole")


class Ipv4PrefixTest(TempDirTest):
    def test_a_subnet_alerts_by_its_prefix_and_ignore_and_trust_stay_single_addresses(self):
        path = os.path.join(self.dir, "access.log")
        text = "".join(line("192.0.2.%d" % (10 + i), T0 + i, "/today_download", 200) for i in range(10))
        text += "".join(line("192.0.2.99", T0 + 20 + i, "/today_download", 200) for i in range(5))  # ignored
        append(path, text)
        alerts, _ = replay(path)
        self.assertEqual(alerts, [])  # one request each: no alert per address
        alerts, report = replay(path, "--ipv4-prefix", "24", "--ignore-ip", "192.0.2.99")
        self.assertEqual(
            alerts, ["SUSPICIOUS ACTIVITY: IP 192.0.2.0/24 accessed today_download 10 times in 10 minutes"]
        )
        self.assertIn("  192.0.2.0/24 ", report)  # the top clients by prefix
        self.assertIn("ignored address", report)  # the single address, not its /24
        parser = log_monitor.Detector.from_settings(
            log_monitor.parse_args(["--ipv4-prefix", "16", "--trusted-proxy", "10.0.0.5"])
        ).parser
        self.assertEqual(parser.client_key(b"10.0.0.5"), "10.0.0.5")  # a proxy stays itself
        self.assertEqual(parser.client_key(b"10.0.7.9"), "10.0.0.0/16")
        self.assertEqual(parser.client_key(b"2001:db8::1"), "2001:db8::1")  # IPv6 has its own


class EvidenceAndEpisodesTest(TempDirTest):
    # the README's example, as this test once wrote it: a scraper of 12 albums, a download
    # manager's 16 segments, an ending, and an episode still open when the log ends
    example = os.path.join("examples", "episodes.log")

    def documented(self, *paths):
        """The lines of paths (under ROOT) that show output of the example."""
        found = []
        for path in paths:
            with open(os.path.join(ROOT, path), encoding="utf-8") as f:
                found += [text.rstrip("\n") for text in f if 'examples/episodes.log"' in text]
        return found

    def test_replay_json_evidence_ended_lines_episodes_and_the_hint(self):
        path = self.example
        done = subprocess.run(
            script_argv(["--replay", path, "--json", "--utc"]),
            capture_output=True, text=True, timeout=20, cwd=ROOT,
        )  # fmt: skip
        objects = [json.loads(text) for text in done.stdout.splitlines()]
        alerts = [o for o in objects[:-1] if "event" not in o]
        ended = [o for o in objects[:-1] if o.get("event") == "ended"]
        report = objects[-1]
        scraper, manager, last = alerts
        self.assertEqual(
            (scraper["distinct_requests"], scraper["statuses"], scraper["first_time"], scraper["repeat"]),
            (10, {"200": 10}, "2025-07-09T05:30:00+00:00", 1),
        )
        self.assertEqual((manager["distinct_requests"], manager["statuses"]), (1, {"200": 1, "206": 9}))
        self.assertNotIn("hosts", manager)  # a plain log: no web server named
        self.assertEqual([e["client"] for e in ended], ["203.0.113.90", "198.51.100.20"])  # not the open one
        self.assertEqual(
            ended[0]["message"],
            "ENDED: IP 203.0.113.90 accessed today_download 12 times from 2025-07-09T05:30:00+00:00 to "
            "2025-07-09T05:31:50+00:00 (peak 12 in 10 minutes)",
        )
        self.assertEqual((ended[1]["requests"], ended[1]["ranges"]), (16, 15))
        episodes = {e["client"]: e for e in report["episodes"]}
        self.assertEqual(episodes["192.0.2.7"]["open"], True)  # the log ended first
        self.assertEqual(episodes["203.0.113.90"]["open"], False)
        self.assertIn("1 alert came mostly from 206 answers", report["ranges_hint"])
        text = subprocess.run(
            script_argv(["--replay", path, "--utc"]), capture_output=True, text=True, timeout=20, cwd=ROOT
        )
        self.assertIn("Episodes (3;", text.stdout)
        # what the README and docs/alerts.md show of it is what it prints
        documented = self.documented("README.md", "docs/alerts.md")
        self.assertEqual(len(documented), 4)
        for shown in documented:
            self.assertIn(shown, done.stdout.splitlines())
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
            readme = f.read()
        start = readme.index("Episodes (3;")
        for shown in readme[start : readme.index("```", start)].splitlines():
            self.assertIn(shown, text.stdout.splitlines())
        self.assertIn(ended[0]["message"], readme)
        self.assertRegex(text.stdout, r"192\.0\.2\.7 +2025-07-09T05:43:20\+00:00 +open +10 +10 +0%")
        self.assertRegex(
            text.stdout,
            r"198\.51\.100\.20 +2025-07-09T05:33:20\+00:00 +2025-07-09T05:33:23\+00:00 +16 +16 +94%",
        )
        self.assertIn("--ranges-once would count each download once", " ".join(text.stdout.split()))
        self.assertIn("<h2>Episodes (3)</h2>", log_monitor.report_html(dict(report, made=None)))

    def test_live_evidence_in_hooks_ended_on_stdout_and_not_in_syslog_and_the_hint_once(self):
        log = os.path.join(self.dir, "access.log")
        append(log, "")
        out = os.path.join(self.dir, "hook.out")
        hook = "sh -c 'echo \"$1 $2 $3 $4\" >> %s' - {ip} {distinct} {first} {repeat}" % out
        receiver = self.receiver()
        d = self.daemon(
            "--log-file", log, "--syslog-socket", receiver.path, "--window", "60", "--interval", "0.02",
            "--on-alert", hook,
        )  # fmt: skip
        d.wait_for("Following")
        t = int(time.time()) - 30  # the alert is fresh (within a window), the last line not too far ahead
        text = download_manager("198.51.100.20", t, 7)  # 10 lines alert: a 200 and nine 206s
        text += line("203.0.113.1", t + 70, "/today_download?album=1", 200)  # a window later: ENDED
        append(log, text)
        d.wait_for("ENDED: IP 198.51.100.20 accessed today_download 16 times", "out")
        d.wait_for("download manager's segments, it seems")
        datagrams = [receiver.receive(5)]
        self.assertIn("SUSPICIOUS ACTIVITY: IP 198.51.100.20", datagrams[0])
        self.assertIsNone(receiver.receive(0.5))  # the ENDED line is not sent to syslog
        self.assertEqual(d.stop(), 0)
        with open(out) as f:
            fields = f.read().split()
        self.assertEqual(fields[0::4], ["198.51.100.20"])
        self.assertEqual((fields[1], fields[3]), ("1", "1"))  # one distinct request, first alert of the day
        self.assertEqual(len([line for line in d.err if "download manager" in line]), 1)

    def test_an_episode_ends_by_the_time_of_any_line_not_only_of_the_next_download(self):
        # before (the hostile review): only a matching request moved the time episodes end by: a
        # quiet client on a site where the target is rare stayed "open" for hours
        path = os.path.join(self.dir, "quiet.log")
        text = "".join(line("203.0.113.9", T0 + i, "/today_download", 200) for i in range(10))
        text += "".join(
            line("198.51.100.%d" % (i % 200), T0 + 60 * i, "/index.html", 200) for i in range(120)
        )
        append(path, text)
        alerts, out = replay(path, "--utc")
        self.assertIn("ENDED: IP 203.0.113.9 accessed today_download 10 times", out)
        self.assertNotRegex(out, r"203\.0\.113\.9 +\S+ +open")

    def test_live_an_episode_ends_while_other_pages_are_read(self):
        log, d = follow(self, "access.log", "--window", "5", "--threshold", "3")
        t = int(time.time()) - 20
        append(log, "".join(line("203.0.113.9", t + i, "/today_download", 200) for i in range(4)))
        d.wait_for("SUSPICIOUS ACTIVITY: IP 203.0.113.9", "out")
        append(log, line("198.51.100.1", t + 12, "/index.html", 200))  # another page, 8 s later
        d.wait_for("ENDED: IP 203.0.113.9 accessed today_download 4 times", "out")
        self.assertEqual(d.stop(), 0)

    def test_episodes_are_the_same_however_the_log_is_cut_into_reads(self):
        # before (the second hostile review): in one read (1 MiB in a replay) a client's bursts two
        # hours apart were one episode, and in a bigger file two
        bursts = "".join(
            line("203.0.113.9", T0 + h * 7200 + i, "/today_download", 200) for h in (0, 1) for i in range(12)
        )
        expected = [
            "ENDED: IP 203.0.113.9 accessed today_download 12 times from %s to %s (peak 12 in 10 minutes)"
            % (log_monitor.iso_time(T0 + h * 7200, True), log_monitor.iso_time(T0 + h * 7200 + 11, True))
            for h in (0, 1)
        ]
        filler = "".join(line("192.0.2.1", T0 + 7200 + 700, "/", 200) for _ in range(40))  # the log goes on
        for size in ("small", "big"):
            with self.subTest(size=size):
                path = os.path.join(self.dir, size + ".log")
                between = line("192.0.2.1", T0 + 3600, "/", 200) * (1 if size == "small" else 12000)
                append(path, bursts[: len(bursts) // 2] + between + bursts[len(bursts) // 2 :] + filler)
                alerts, out = replay(path, "--utc")
                self.assertEqual([x for x in out.splitlines() if x.startswith("ENDED")], expected)

    def test_one_line_ahead_or_behind_at_the_end_of_a_read_neither_ends_nor_holds_an_episode(self):
        # before: one line a day ahead at the end of a file ended every episode mid-attack (a
        # skewed server in a merged log), and one older line last (Apache logs a long request at
        # its end, with its start time) kept an episode open however long the log went on
        attack = "".join(line("203.0.113.9", T0 + 10 * i, "/today_download", 200) for i in range(90))
        ahead = line("192.0.2.1", T0 + 6 * 3600, "/index.html", 200)
        first, second = os.path.join(self.dir, "a.log"), os.path.join(self.dir, "b.log")
        append(first, attack + ahead)
        append(
            second, "".join(line("203.0.113.9", T0 + 900 + 10 * i, "/today_download", 200) for i in range(90))
        )
        alerts, out = replay(first, second, "--utc")
        self.assertNotIn("ENDED", out)  # the attack never paused
        behind = os.path.join(self.dir, "behind.log")
        others = "".join(line("192.0.2.%d" % m, T0 + 120 * m, "/index.html", 200) for m in range(1, 40))
        append(behind, attack[: len(attack) // 6] + others + line("192.0.2.99", T0 + 60, "/big.iso", 200))
        alerts, out = replay(behind, "--utc")
        self.assertIn("ENDED: IP 203.0.113.9 accessed today_download 15 times", out)

    def test_two_lines_ahead_at_the_end_of_one_read_cut_no_later_episode(self):
        # before (the third review): the newest end-of-read time ever seen was kept, so two lines a
        # day ahead at one file's end ended every later episode at the first read end after it
        first, second = os.path.join(self.dir, "a.log"), os.path.join(self.dir, "b.log")
        open_one = "".join(line("203.0.113.77", T0 + 10 * i, "/today_download", 200) for i in range(12))
        append(first, open_one + line("192.0.2.1", T0 + 20 * 3600, "/", 200) * 2)
        for i in range(360):  # an hour later, a client for an hour; filler between its requests
            append(second, line("203.0.113.9", T0 + 3600 + 10 * i, "/today_download", 200))
            append(second, line("192.0.2.2", T0 + 3600 + 10 * i, "/x" * 3000, 200))  # 6 KB: reads end often
        alerts, out = replay(first, second, "--utc")
        ended = [x for x in out.splitlines() if x.startswith("ENDED: IP 203.0.113.9")]
        self.assertEqual(len(ended), 0, ended)  # still going at the end: open, never cut

    def test_live_a_time_a_client_wrote_past_the_line_s_cut_ends_no_episode(self):
        # before: in AWS's layout an X-Forwarded-For longer than MAX_LINE_BYTES holding a time a
        # minute ahead was the line's time, and ended other clients' episodes before their time
        log, d = follow(self, "access.log", "--window", "30", "--threshold", "3")
        now = int(time.time())
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now + 59))
        fake = "[%s] %s, 198.51.100.66 198.51.100.66" % (stamp, ", ".join(["192.0.2.1"] * 6000))  # 66 KB
        append(log, "".join(line("- 203.0.113.9", now + i, "/today_download", 200) for i in range(3)))
        d.wait_for("SUSPICIOUS ACTIVITY: IP 203.0.113.9", "out")
        for _ in range(3):
            append(log, line(fake, now + 3, "/index.html", 200))
        d.wait_read(6)
        self.assertEqual(d.stop(), 0)
        self.assertNotIn("ENDED", "\n".join(d.out))

    def test_an_alert_flood_keeps_the_due_times_of_episodes_bounded(self):
        # before (the hostile review): the heap of due times kept an entry for every episode let
        # go past most_episodes: 300,000 alerts in a window, 300,000 entries and 48 MiB
        detector = log_monitor.Detector.from_settings(log_monitor.Settings())
        detector.most_episodes = 100
        for i in range(3000):
            runs = [("2001:db8::%x" % i, T0 + i // 100, b"200", log_monitor.NOTE_KNOWN, 10)]
            detector.count(runs, None)
            self.assertLessEqual(len(detector.ends), 2 * detector.most_episodes + 1)
        self.assertEqual(detector.alerts, 3000)
        self.assertEqual((len(detector.episodes), detector.episodes_forgotten), (100, 2900))
        later = "".join(line("192.0.2.1", T0 + 3000, "/", 200) for _ in range(3))  # much later
        ended = detector.feed(later.encode(), None)
        self.assertEqual(len(ended), 100)  # each episode kept ends once

    def test_a_central_syslog_file_names_the_web_servers_that_carried_the_requests(self):
        path = os.path.join(self.dir, "central.log")
        text = "".join(
            "Jul  9 05:30:%02d web%d apache: %s"
            % (i, 1 + i % 2, line("203.0.113.7", T0 + i, "/today_download", 200))
            for i in range(10)
        )
        text += "".join(
            "Jul  9 05:31:%02d web3 apache: %s" % (i, line("203.0.113.8", T0 + 60 + i, "/", 200))
            for i in range(3)
        )
        append(path, text)
        done = subprocess.run(
            script_argv(["--replay", path, "--json"]), capture_output=True, text=True, timeout=20
        )
        alert = json.loads(done.stdout.splitlines()[0])
        self.assertEqual((alert["client"], alert["hosts"]), ("203.0.113.7", ["web1", "web2"]))


class LiveSubnetTest(TempDirTest):
    def test_the_daemon_alerts_for_a_subnet_by_its_prefix(self):
        log, d = follow(self, "access.log", "--ipv4-prefix", "24", "--threshold", "5")
        append(
            log, "".join(line("192.0.2.%d" % (10 + i), RECENT + i, "/today_download", 200) for i in range(5))
        )
        d.wait_for(
            "SUSPICIOUS ACTIVITY: IP 192.0.2.0/24 accessed today_download 5 times in 10 minutes", "out"
        )
        self.assertEqual(d.stop(), 0)


class RangesAbuseTest(TempDirTest):
    def test_whole_downloads_asked_as_ranges_count_again_after_32_lines(self):
        # a client that asks each whole download as Range: bytes=0- gets a 206 each time
        path = os.path.join(self.dir, "access.log")
        append(
            path, "".join(line("198.51.100.90", T0 + i, "/today_download?album=1", 206) for i in range(330))
        )
        alerts, report = replay(path, "--ranges-once")
        self.assertEqual(
            alerts, ["SUSPICIOUS ACTIVITY: IP 198.51.100.90 accessed today_download 10 times in 10 minutes"]
        )
        self.assertIn("matching requests  11", report)  # 330 lines: one download per 32

    def test_runs_of_equal_200s_after_one_206_are_each_a_line_of_the_download(self):
        # before (the hostile review): a run of equal lines was one of a download's 32 lines,
        # however long: one 206, then 50 equal 200s a second for 31 s counted 1, no alert
        text = line("203.0.113.7", T0, "/today_download", 206)
        text += "".join(line("203.0.113.7", T0 + s, "/today_download", 200) * 50 for s in range(1, 32))
        path = os.path.join(self.dir, "access.log")
        append(path, text)
        alerts, report = replay(path, "--ranges-once")
        self.assertEqual(
            alerts, ["SUSPICIOUS ACTIVITY: IP 203.0.113.7 accessed today_download 10 times in 10 minutes"]
        )
        # the 206 and the first 200 after it are one download; then each 200 counts
        self.assertIn("matching requests  1550", report)
        self.assertIn("range already counted (--ranges-once) 1", " ".join(report.split()))
