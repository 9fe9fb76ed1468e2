"""Watching URLs: the up/down state machine, probes against a real local HTTP server, the
background watcher, and the daemon's --watch-url end to end (alerts from the real logger)."""

import contextlib
import http.client
import http.server
import io
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import unittest
from unittest import mock
import urllib.error

from helpers import EXPECTED, TempDirTest, append, burst, log_monitor, parse_datagram, settings, wait_until


# ---------------------------------------------------------------- a site the test controls
class Site:
    """A real HTTP server on 127.0.0.1 in a thread; the test switches what "/" answers.

    "/" answers self.mode: "200", "500" or "hang" (wait, unanswered, until release is set).
    Fixed paths: /ok 200, /fail 500 (its body must never reach an alert), /hang..., and
    /to-ok and /to-fail, which redirect (302) to /ok and /fail.
    """

    def __init__(self):
        self.mode = "200"
        self.release = threading.Event()
        self.agents = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                site.answer(self)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.root = "http://127.0.0.1:%d/" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def url(self, path=""):
        return self.root + path

    def answer(self, handler):
        self.agents.append(handler.headers.get("User-Agent"))
        path = handler.path.lstrip("/")
        mode = self.mode if path == "" else path
        try:
            if mode.startswith("hang"):
                self.release.wait(10)
                return
            if mode in ("to-ok", "to-fail"):
                handler.send_response(302)
                handler.send_header("Location", "/" + mode[3:])
                handler.end_headers()
                return
            status = 500 if mode in ("500", "fail") else 200
            body = b"secret stack trace" if status == 500 else b"hello"
            handler.send_response(status)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:  # the prober gave up first
            pass

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port_url():
    """An http URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return "http://127.0.0.1:%d/" % port


class SiteTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.site = Site()
        self.addCleanup(self.site.close)

    def watcher(self, urls, every=0.02, timeout=1.0, failures=2, probe=log_monitor.probe_url):
        watcher = log_monitor.UrlWatcher(urls, every, timeout, failures, probe=probe)
        watcher.start()
        self.addCleanup(watcher.stop)
        return watcher


def collect(watcher, until, timeout=2.0):
    """Poll watcher, with tiny waits, until until(events) or timeout seconds; the events."""
    events = []
    deadline = time.monotonic() + timeout
    while not until(events) and time.monotonic() < deadline:
        events += watcher.poll(time.time())
        time.sleep(0.005)
    return events


class CountingProbe:
    """probe_url, counting its calls."""

    def __init__(self, probe=None):
        self.probe = probe or log_monitor.probe_url
        self.calls = 0

    def __call__(self, url, timeout):
        self.calls += 1
        return self.probe(url, timeout)


# ---------------------------------------------------------------- the state machine (pure)
URL = "http://www.example.com/"


def feed(state, results):
    """Alert texts (or None) of results: (ok, detail, probe time) each."""
    return [state.update(ok, detail, now) for ok, detail, now in results]


class UrlStateTest(unittest.TestCase):
    def test_first_success_is_silent(self):
        state = log_monitor.UrlState(URL, 2)
        self.assertEqual(feed(state, [(True, "200", 0), (True, "200", 60)]), [None, None])

    def test_flapping_pages_nobody(self):
        state = log_monitor.UrlState(URL, 2)
        results = [(i % 2 == 1, "200" if i % 2 else "500", i * 60) for i in range(10)]
        self.assertEqual(feed(state, results), [None] * 10)

    def test_down_takes_n_failures_in_a_row_and_alerts_once(self):
        state = log_monitor.UrlState(URL, 3)
        self.assertEqual(
            feed(
                state,
                [
                    (True, "200", 0),
                    (False, "500", 60),
                    (False, "500", 120),
                    (False, "500", 180),
                    (False, "502", 240),
                    (False, "500", 300),
                ],
            ),
            [None, None, None, "URL DOWN: %s returned 500" % URL, None, None],
        )

    def test_one_failure_is_enough_when_failures_is_1(self):
        state = log_monitor.UrlState(URL, 1)
        self.assertEqual(
            state.update(False, "timeout after 10 s", 0), "URL DOWN: %s returned timeout after 10 s" % URL
        )

    def test_down_at_start_alerts_once(self):
        state = log_monitor.UrlState(URL, 2)
        self.assertEqual(
            feed(state, [(False, "connection refused", t) for t in (0, 60, 120, 180)]),
            [None, "URL DOWN: %s returned connection refused" % URL, None, None],
        )

    def test_down_names_the_failure_that_made_it_down(self):
        state = log_monitor.UrlState(URL, 2)
        self.assertEqual(
            feed(state, [(False, "500", 0), (False, "timeout after 10 s", 60)])[1],
            "URL DOWN: %s returned timeout after 10 s" % URL,
        )

    def test_recovery_counts_from_the_first_failed_probe(self):
        state = log_monitor.UrlState(URL, 2)
        alerts = feed(
            state,
            [
                (True, "200", 940),
                (False, "500", 1000),
                (False, "500", 1060),
                (False, "500", 1120),
                (True, "200", 1150),
                (True, "200", 1210),
            ],
        )
        self.assertEqual(alerts[4], "URL RECOVERED: %s after 2m30s" % URL)
        self.assertEqual(alerts[5], None)
        # a new spell is timed on its own
        self.assertEqual(
            feed(state, [(False, "500", 2000), (False, "500", 2010), (True, "200", 2045)])[2],
            "URL RECOVERED: %s after 45s" % URL,
        )

    def test_a_single_failure_does_not_start_the_spell_early(self):
        state = log_monitor.UrlState(URL, 2)
        alerts = feed(
            state,
            [
                (False, "500", 0),
                (True, "200", 60),
                (False, "500", 3600),
                (False, "500", 3660),
                (True, "200", 7320),
            ],
        )
        self.assertEqual(alerts[4], "URL RECOVERED: %s after 1h02m" % URL)

    def test_long_spells_and_a_clock_stepped_back(self):
        state = log_monitor.UrlState(URL, 1)
        self.assertEqual(
            feed(state, [(False, "500", 0), (True, "200", 90000)])[1], "URL RECOVERED: %s after 1d01h" % URL
        )
        self.assertEqual(
            feed(state, [(False, "500", 100000), (True, "200", 99000)])[1], "URL RECOVERED: %s after 0s" % URL
        )

    def test_status_texts(self):
        state = log_monitor.UrlState(URL, 2)
        self.assertEqual(state.status(), "url %s not checked yet" % URL)
        state.update(True, "200", 0, 0.0123)
        self.assertEqual(state.status(), "url %s up 200 12 ms" % URL)
        state.update(False, "500", 60, 0.004)
        self.assertEqual(state.status(), "url %s failing (500) 1 of 2" % URL)
        state.update(False, "timeout after 10 s", 120, 10)
        self.assertRegex(
            state.status(),
            r"^url %s down \(timeout after 10 s\) since "
            r"19(69|70)-\d\d-\d\dT\d\d:\d\d:00[+-]\d\d:\d\d$" % re.escape(URL),
        )


class UrlTextTest(unittest.TestCase):
    def test_error_words(self):
        gai = urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
        cert = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
        cert.verify_message = "self-signed certificate"
        for error, words in [
            (gai, "DNS failure: Name or service not known"),
            (urllib.error.URLError(cert), "TLS error: certificate verify failed: self-signed certificate"),
            (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
            (socket.timeout("timed out"), "timeout after 2.5 s"),
            (http.client.RemoteDisconnected("Remote end closed"), "connection closed without an answer"),
            (http.client.BadStatusLine("secret\x1b[2J"), "bad answer (BadStatusLine)"),
            (urllib.error.URLError(OSError(113, "No route to host")), "no route to host"),
            (
                urllib.error.URLError("ftp error: 530 CALL-555-0100-SITE-HACKED-PAY-NOW"),
                "failed (the error's text may be the server's: not shown)",
            ),
            (ValueError("530 CALL-555-0100"), "invalid URL"),
        ]:
            self.assertEqual(log_monitor.probe_error(error, 2.5), words)

    def test_http_url_checks_what_reaches_an_alert(self):
        for good in ("http://127.0.0.1:8080/", "https://www.example.com/today_download?x=1"):
            self.assertEqual(log_monitor.http_url(good), good)
        for bad in (
            "ftp://example.com/",
            "www.example.com",
            "http://",
            "http://exa mple.com/",
            "http://example.com/\n",
            "http://user:secret@example.com/",
            "http://example.com:99999/",
            "http://example.com:x/",
            "http://example.com:0/",
        ):
            with self.assertRaises(log_monitor.argparse.ArgumentTypeError, msg=bad):
                log_monitor.http_url(bad)

    def test_url_alert_line(self):
        event = log_monitor.UrlEvent(0, "URL DOWN: %s returned 500" % URL)
        self.assertEqual(
            log_monitor.url_alert_line(event, utc=True),
            "1970-01-01T00:00:00+00:00 URL DOWN: %s returned 500" % URL,
        )


# ---------------------------------------------------------------- one probe, real network
class ProbeTest(SiteTest):
    def test_200_is_up_with_its_response_time(self):
        ok, detail, seconds = log_monitor.probe_url(self.site.url(), 1)
        self.assertEqual((ok, detail), (True, "200"))
        self.assertLess(seconds, 1)
        self.assertEqual(self.site.agents, ["log_monitor/%s url-check" % log_monitor.__version__])

    def test_500_is_its_code_never_its_body(self):
        self.assertEqual(log_monitor.probe_url(self.site.url("fail"), 1)[:2], (False, "500"))

    def test_redirects_count_their_final_status(self):
        self.assertEqual(log_monitor.probe_url(self.site.url("to-ok"), 1)[:2], (True, "200"))
        self.assertEqual(log_monitor.probe_url(self.site.url("to-fail"), 1)[:2], (False, "500"))

    def test_no_answer_is_a_timeout(self):
        self.assertEqual(
            log_monitor.probe_url(self.site.url("hang"), 0.1)[:2], (False, "timeout after 0.1 s")
        )

    def test_closed_port_is_connection_refused(self):
        self.assertEqual(log_monitor.probe_url(closed_port_url(), 1)[:2], (False, "connection refused"))

    def test_https_to_a_plain_http_port_is_a_tls_error(self):
        ok, detail, _ = log_monitor.probe_url(self.site.root.replace("http:", "https:"), 1)
        self.assertFalse(ok)
        self.assertTrue(detail.startswith("TLS error: "), detail)

    @unittest.skipUnless(shutil.which("openssl"), "openssl is not installed (to make a certificate)")
    def test_a_certificate_that_cannot_be_verified_is_a_tls_error(self):
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                key,
                "-out",
                cert,
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
            ],
            check=True,
            capture_output=True,
            timeout=20,
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = "https://localhost:%d/" % server.server_address[1]
        ok, detail, _ = log_monitor.probe_url(url, 1)
        self.assertFalse(ok)  # OpenSSL 1.1 writes "self signed", 3.x "self-signed"
        self.assertRegex(detail, r"^TLS error: certificate verify failed: self.signed certificate$")

    def test_a_garbled_answer_is_named_not_quoted(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        self.addCleanup(listener.close)

        def serve():
            connection, _ = listener.accept()
            with connection:
                connection.recv(4096)
                connection.sendall(b"SECRET \x1b[2J garbage\r\n\r\n")

        threading.Thread(target=serve, daemon=True).start()
        url = "http://127.0.0.1:%d/" % listener.getsockname()[1]
        self.assertEqual(log_monitor.probe_url(url, 1)[:2], (False, "bad answer (BadStatusLine)"))


# ---------------------------------------------------------------- the watcher, in background threads
class UrlWatcherTest(SiteTest):
    def test_the_opener_and_its_ca_store_are_built_before_any_probe_thread(self):
        # built in a probe thread, OpenSSL's clean-up at exit could free the CA store while the
        # thread was loading it: a daemon stopped as its probes started died of SIGSEGV
        callers = []
        real = log_monitor.url_opener

        def recording_opener():
            callers.append(threading.current_thread().name)
            return real()

        self.site.mode = "500"
        with mock.patch.object(log_monitor, "url_opener", recording_opener):
            watcher = self.watcher([self.site.url()])
            events = collect(watcher, lambda events: events)  # the probes ran: DOWN after two
        self.assertEqual(len(events), 1, events)
        self.assertEqual(callers, [threading.current_thread().name])  # once, and never in a probe

    def test_down_once_then_recovered_once(self):
        self.site.mode = "500"
        url = self.site.url()
        watcher = self.watcher([url])
        events = collect(watcher, lambda events: events)
        self.assertEqual([e.message for e in events], ["URL DOWN: %s returned 500" % url])
        self.assertLessEqual(events[0].time, time.time())
        self.assertGreater(events[0].time, time.time() - 2)
        self.site.mode = "200"
        events = collect(watcher, lambda events: events)
        self.assertEqual(len(events), 1, events)
        self.assertRegex(events[0].message, r"^URL RECOVERED: %s after \d+s$" % re.escape(url))
        self.assertIn("url %s up 200 " % url, watcher.status())
        self.assertEqual(collect(watcher, lambda events: False, timeout=0.1), [])  # 5 more probes

    def test_first_success_is_silent(self):
        probe = CountingProbe()
        watcher = self.watcher([self.site.url()], probe=probe)
        events = collect(watcher, lambda events: probe.calls >= 4)
        events += watcher.poll(time.time())  # the third result is in before the fourth probe
        self.assertGreaterEqual(probe.calls, 4)
        self.assertEqual(events, [])
        self.assertRegex(watcher.status(), r"^url %s up 200 \d+ ms$" % re.escape(self.site.url()))

    def test_redirects_and_errors_as_alerts(self):
        urls = [self.site.url("to-ok"), self.site.url("to-fail"), closed_port_url()]
        watcher = self.watcher(urls, failures=1)
        events = collect(watcher, lambda events: len(events) >= 2 and " up " in watcher.status())
        self.assertEqual(
            sorted(e.message for e in events),
            sorted(
                ["URL DOWN: %s returned 500" % urls[1], "URL DOWN: %s returned connection refused" % urls[2]]
            ),
        )
        status = watcher.status().split("; ")
        self.assertRegex(status[0], r"^url %s up 200 \d+ ms$" % re.escape(urls[0]))
        self.assertTrue(status[1].startswith("url %s down (500) since " % urls[1]), status)

    def test_hanging_urls_do_not_add_up_and_poll_never_blocks(self):
        urls = [self.site.url("hang%d" % i) for i in range(3)]
        watcher = self.watcher(urls, every=10, timeout=0.3, failures=1)
        started = time.monotonic()
        slowest_poll, events = 0, []
        while len(events) < 3 and time.monotonic() - started < 1.5:
            before = time.monotonic()
            events += watcher.poll(time.time())
            slowest_poll = max(slowest_poll, time.monotonic() - before)
            time.sleep(0.005)
        self.assertLess(time.monotonic() - started, 0.6)  # at once: 0.3 s, one after another: 0.9 s
        self.assertEqual(
            sorted(e.message for e in events),
            ["URL DOWN: %s returned timeout after 0.3 s" % url for url in urls],
        )
        self.assertLess(slowest_poll, 0.05)

    def test_a_stuck_probe_times_out_is_never_doubled_and_does_not_hold_up_stop(self):
        stuck = threading.Event()
        self.addCleanup(stuck.set)
        probe = CountingProbe(lambda url, timeout: stuck.wait(30) and (True, "200", 0))
        watcher = self.watcher([URL], timeout=0.05, failures=2, probe=probe)
        events = collect(watcher, lambda events: events)
        self.assertEqual([e.message for e in events], ["URL DOWN: %s returned timeout after 0.05 s" % URL])
        # two turns, one probe: it is stuck where urllib's timeout cannot reach (a name lookup)
        self.assertEqual(probe.calls, 1)
        started = time.monotonic()
        watcher.stop()
        self.assertLess(time.monotonic() - started, 0.5)
        self.assertFalse(any(t.is_alive() for t in watcher.threads))

    def test_a_stuck_probe_that_ends_lets_the_next_probe_run(self):
        release = threading.Event()
        self.addCleanup(release.set)
        answers = iter([lambda: release.wait(30) and (False, "late", 0)])

        def probe(url, timeout):
            return next(answers, lambda: (True, "200", 0.001))()

        watcher = self.watcher([URL], timeout=0.05, failures=1, probe=probe)
        self.assertEqual(len(collect(watcher, lambda events: events)), 1)
        release.set()
        events = collect(watcher, lambda events: events)
        self.assertRegex(events[0].message, r"^URL RECOVERED: ")  # "late" was never counted

    def test_a_probe_that_raises_is_a_failure(self):
        def probe(url, timeout):
            raise RuntimeError("bug")

        watcher = self.watcher([URL], failures=1, probe=probe)
        self.assertEqual(
            [e.message for e in collect(watcher, lambda events: events)],
            ["URL DOWN: %s returned probe failed (RuntimeError)" % URL],
        )

    def test_a_url_given_twice_is_watched_once(self):
        watcher = log_monitor.UrlWatcher([URL, URL], 60, 10, 2)
        self.assertEqual(watcher.status(), "url %s not checked yet" % URL)


# ---------------------------------------------------------------- the daemon, end to end
WATCH_FAST = (
    "--watch-every",
    "0.05",
    "--watch-timeout",
    "0.5",
    "--watch-failures",
    "2",
    "--interval",
    "0.02",
)
WATCH_FASTER = (
    "--watch-every",
    "0.05",
    "--watch-timeout",
    "0.5",
    "--watch-failures",
    "1",
    "--interval",
    "0.02",
)


class DaemonWatchTest(SiteTest):
    def log_file(self):
        path = os.path.join(self.dir, "access.log")
        append(path, "")
        return path

    def status(self, d, wanted):
        """Ask for the SIGUSR1 status line until it contains each of wanted; the line."""
        for attempt in range(1, 30):
            d.proc.send_signal(signal.SIGUSR1)
            line = d.wait_for("status:", count=attempt)[-1]
            if all(re.search(w, line) for w in wanted):
                return line
            time.sleep(0.02)
        self.fail("no status line with %s: %s" % (wanted, line))

    def test_flags_and_defaults(self):
        self.assertEqual(
            (
                log_monitor.WATCH_URLS,
                log_monitor.WATCH_EVERY,
                log_monitor.WATCH_TIMEOUT,
                log_monitor.WATCH_FAILURES,
            ),
            ([], 60, 10, 2),
        )
        s = settings()
        self.assertEqual((s.watch_urls, s.watch_every, s.watch_timeout, s.watch_failures), ([], 60, 10, 2))
        s = settings(
            "--watch-url",
            "https://a.example/",
            "--watch-url",
            "http://b.example/x",
            "--watch-every",
            "5",
            "--watch-timeout",
            "1.5",
            "--watch-failures",
            "3",
        )
        self.assertEqual(
            (s.watch_urls, s.watch_every, s.watch_timeout, s.watch_failures),
            (["https://a.example/", "http://b.example/x"], 5, 1.5, 3),
        )
        for bad in (
            ["--watch-url", "ftp://a.example/"],
            ["--watch-every", "0"],
            ["--watch-timeout", "-1"],
            ["--watch-failures", "0"],
        ):
            with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit) as exit:
                settings(*bad)
            self.assertEqual(exit.exception.code, 2, bad)

    @unittest.skipUnless(shutil.which("logger"), "util-linux logger is not installed")
    def test_down_then_recovered_through_logger(self):
        receiver = self.receiver()
        self.site.mode = "500"
        url = self.site.url()
        down = "URL DOWN: %s returned 500" % url
        recovered = r"^URL RECOVERED: %s after \d+s$" % re.escape(url)
        d = self.daemon(
            "--watch-url", url, "--syslog-socket", receiver.path, "--log-file", self.log_file(), *WATCH_FAST
        )
        self.assertEqual(parse_datagram(receiver.receive(5)), (11, "AlbumMonitor", down))
        self.site.mode = "200"
        priority, tag, message = parse_datagram(receiver.receive(5))
        self.assertRegex(message, recovered)
        self.assertIsNone(receiver.receive(timeout=0.1))  # two more probes, nothing to say
        self.assertEqual(d.stop(), 0)
        lines = [line for line in d.out if " URL " in line]
        self.assertEqual(len(lines), 2, d.out)
        self.assertTrue(lines[0].endswith(" " + down), lines)
        self.assertRegex(lines[1].split(" ", 1)[1], recovered)

    @unittest.skipUnless(shutil.which("logger"), "util-linux logger is not installed")
    def test_a_hanging_url_does_not_delay_a_log_alert(self):
        receiver = self.receiver()
        path = self.log_file()
        d = self.daemon(
            "--watch-url",
            self.site.url("hang"),
            "--watch-every",
            "0.1",
            "--watch-timeout",
            "2",
            "--syslog-socket",
            receiver.path,
            "--log-file",
            path,
            "--interval",
            "0.02",
        )
        d.wait_for("Following ")
        wait_until(lambda: self.site.agents, 10, "the probe reaching the URL")  # it hangs from here on
        started = time.monotonic()
        # recent log times: an alert logged more than a window ago is not paged
        append(path, burst("192.168.1.100", 10, int(time.time()) - 60))
        datagram = receiver.receive(timeout=1.0)
        self.assertIsNotNone(datagram, "no log alert within 1 s while a probe hangs")
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertEqual(parse_datagram(datagram)[2], EXPECTED % ("192.168.1.100", 10))
        started = time.monotonic()
        self.assertEqual(d.stop(), 0)  # a hung probe does not hold the exit
        self.assertLess(time.monotonic() - started, 2.0)

    def test_watch_urls_alone_follow_no_log_and_show_in_the_status_line(self):
        # one daemon for two contracts: each start of the interpreter costs a few tenths of a second
        refused, fine = closed_port_url(), self.site.url("ok")
        d = self.daemon("--watch-url", refused, "--watch-url", fine, "--dry-run", *WATCH_FASTER)
        down = d.wait_for("URL DOWN", where="out")[0]
        self.assertTrue(down.endswith(" URL DOWN: %s returned connection refused" % refused), down)
        status = self.status(
            d,
            [
                re.escape("url %s down (connection refused) since " % refused),
                r"url %s up 200 \d+ ms" % re.escape(fine),
            ],
        )
        self.assertTrue(status.startswith("status:"), status)
        self.assertEqual(d.stop(), 0)
        self.assertEqual([line for line in d.out if " URL " in line], [down])
        self.assertFalse(
            [line for line in d.err if "Waiting for log file" in line or "Following" in line], d.err
        )


if __name__ == "__main__":
    unittest.main()
