"""Real web servers write the lines: Apache 2.4 (with rotatelogs, Basic and Digest auth, AWS's
proxy layout), nginx (any Basic header, and as a reverse proxy in front of Apache), driven on
127.0.0.1 by http.client and aria2c; log_monitor reads what they wrote, live and in replay.

One Apache and one nginx serve the whole module, from configuration files written into a temp
dir, on ephemeral ports of 127.0.0.1, with their pid, lock and log files there too. Each test
uses its own client address (127.0.0.N: the kernel routes all of 127/8 to loopback) so that
the counts never mix. Servers are stopped by the module's cleanup, even on failure. Skipped
without them: Debian's apache2, apache2-utils (rotatelogs) and nginx packages; aria2c (aria2)
where installed, else the same Range requests by http.client.
"""

import base64
import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from helpers import EXPECTED, Daemon, class_dir, script_argv, wait_until
from test_rsyslog import LOGGER, RSYSLOGD, Rsyslogd, accepts, free_port, read_lines

APACHE = shutil.which("apache2") or next((p for p in ("/usr/sbin/apache2",) if os.access(p, os.X_OK)), None)
ROTATELOGS = shutil.which("rotatelogs")
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
ARIA2C = shutil.which("aria2c")
MODULES = "/usr/lib/apache2/modules"
HAVE_APACHE = bool(APACHE and ROTATELOGS and os.path.isdir(MODULES))
NEED_APACHE = "Apache is not installed (Debian: apt install apache2 apache2-utils)"
NEED_NGINX = "nginx is not installed (Debian: apt install nginx)"
ROTATION = 1  # seconds: rotatelogs' period (the names are then those of the current second)
DOWNLOAD_BYTES = 16 << 20  # the album a download manager fetches in 1 MiB segments
COMBINED = r'"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\""'
AWS = r'"%{X-Forwarded-For}i %h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\""'

APACHE_CONF = """ServerRoot "{dir}"
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
PidFile {dir}/apache.pid
DefaultRuntimeDir {dir}
Mutex file:{dir} default
ErrorLog {dir}/apache-error.log
LogLevel warn
{modules}
{user}
LimitRequestLine 8190
DocumentRoot "{dir}/www"
<Directory "{dir}/www">
    Require all granted
</Directory>
# the seed deployment: dated files that rotatelogs switches every {rotation} s
CustomLog "|{rotatelogs} -l {dir}/dated/ssl_www_log-%Y-%m-%d-%H%M%S {rotation}" {combined}
# one plain file of everything, in AWS's layout behind a balancer
CustomLog "{dir}/aws.log" {aws}
<Location "/private/">
    AuthType Basic
    AuthName "private"
    AuthUserFile "{dir}/htpasswd"
    Require valid-user
</Location>
<Location "/digest/">
    AuthType Digest
    AuthName "albums"
    AuthDigestDomain /digest/
    AuthUserFile "{dir}/htdigest"
    Require valid-user
</Location>
"""

NGINX_CONF = """worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
{user}
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {dir}/nginx-tmp/body;
    proxy_temp_path {dir}/nginx-tmp/proxy;
    fastcgi_temp_path {dir}/nginx-tmp/fastcgi;
    uwsgi_temp_path {dir}/nginx-tmp/uwsgi;
    scgi_temp_path {dir}/nginx-tmp/scgi;
    access_log {dir}/nginx.log combined;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
    }}
    server {{  # a reverse proxy in front of Apache, as a load balancer
        listen 127.0.0.1:{proxy_port};
        access_log off;
        location / {{
            proxy_pass http://127.0.0.1:{apache_port};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


class Server:
    """A web server in the foreground, started from a config file, stopped by stop()."""

    def __init__(self, argv, port, name, directory):
        self.name, self.port, self.dir = name, port, directory
        with open(os.path.join(directory, name + ".out"), "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: accepts(port) or self.proc.poll() is not None, 10, "%s to listen" % name)
        if self.proc.poll() is not None:
            raise AssertionError("%s did not start: %s" % (name, self.diagnostics()))

    def diagnostics(self):
        lines = []
        for path in glob.glob(os.path.join(self.dir, self.name + "*")):
            if path.endswith((".out", "-error.log")):
                lines += read_lines(path)
        return " | ".join(lines[-10:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def request(port, path, source, headers=None, method="GET"):
    """One HTTP/1.1 request from the address source: (status, body length)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, len(response.read())
    finally:
        conn.close()


def basic(user, password="x"):
    return {
        "Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode("latin-1")).decode()
    }


def digest(port, user):
    """A Digest Authorization header for user (quotes escaped) with a nonce the server just gave:
    Apache then logs the user name in %u, with the answer 401 (no such user)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/digest/")
    response = conn.getresponse()
    response.read()
    conn.close()
    nonce = re.search(r'nonce="([^"]+)"', response.getheader("WWW-Authenticate")).group(1)
    value = 'Digest username="%s", realm="albums", nonce="%s", uri="/digest/", algorithm=MD5, qop=auth, '
    value += 'nc=00000001, cnonce="c0ffee", response="%s"'
    return {"Authorization": value % (user.replace('"', '\\"'), nonce, "0" * 32)}


def replay(*args):
    """(alerts, report) of log_monitor --replay ARGS --json."""
    done = subprocess.run(
        script_argv(["--replay", *args, "--json"]), capture_output=True, text=True, timeout=30
    )
    if done.returncode != 0:
        raise AssertionError(done.stderr)
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    return [o for o in objects[:-1] if "event" not in o], objects[-1]


def lines_of(path, source):
    """The lines of a log written for the client address source (its %h, or any field)."""
    return [line for line in read_lines(path) if re.search(r"(^|[ ,])%s( |,|$)" % re.escape(source), line)]


def write_conf(directory, name, template, **values):
    """The config file name in directory, from template filled with values (and dir); its path."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(template.format(dir=directory, **values))
    return path


def start_servers(directory):
    """Apache and nginx for the module: (apache, nginx), either None when not installed."""
    www = os.path.join(directory, "www")
    for sub in ("www/private", "www/digest", "dated", "nginx-tmp"):
        os.makedirs(os.path.join(directory, sub))
    for path in ("today_download", "index.html", "private/today_download", "digest/today_download"):
        with open(os.path.join(www, path), "wb") as f:
            f.write(b"album\n" * 100)
    with open(os.path.join(www, "album.zip"), "wb") as f:
        f.truncate(DOWNLOAD_BYTES)
    for root, _dirs, files in os.walk(directory):  # a server that drops root to nobody reads them
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    with open(os.path.join(directory, "htpasswd"), "w") as f:
        f.write("owner:$apr1$abc$xyz\n")  # nobody logs in: every request is a 401
    realm_hash = hashlib.md5(b"owner:albums:secret").hexdigest()
    with open(os.path.join(directory, "htdigest"), "w") as f:
        f.write("owner:albums:%s\n" % realm_hash)
    root = os.getuid() == 0
    apache = nginx = None
    if HAVE_APACHE:
        port = free_port()
        modules = "\n".join(
            "LoadModule %s_module %s/mod_%s.so" % (name, MODULES, name)
            for name in ("mpm_event", "authz_core", "authz_user", "authn_core", "authn_file", "auth_basic")
            + ("auth_digest",)
        )
        user = "User nobody\nGroup nogroup" if root else ""
        values = dict(port=port, modules=modules, user=user, rotatelogs=ROTATELOGS, rotation=ROTATION)
        conf = write_conf(directory, "apache.conf", APACHE_CONF, combined=COMBINED, aws=AWS, **values)
        apache = Server([APACHE, "-f", conf, "-DFOREGROUND"], port, "apache", directory)
    if NGINX:
        port, proxy_port = free_port(), free_port()
        upstream = apache.port if apache else free_port()
        user = "user root;" if root else ""
        conf = write_conf(
            directory,
            "nginx.conf",
            NGINX_CONF,
            port=port,
            proxy_port=proxy_port,
            apache_port=upstream,
            user=user,
        )
        argv = [NGINX, "-p", directory, "-c", conf, "-e", os.path.join(directory, "nginx-error.log")]
        nginx = Server(argv + ["-g", "daemon off;"], port, "nginx", directory)
        nginx.proxy_port = proxy_port
    return apache, nginx


class ServersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = class_dir(cls)
        if not (HAVE_APACHE or NGINX):
            raise unittest.SkipTest("%s; %s" % (NEED_APACHE, NEED_NGINX))
        cls.apache, cls.nginx = start_servers(cls.dir)
        for server in (cls.nginx, cls.apache):  # nginx first: it proxies to Apache
            if server is not None:
                cls.addClassCleanup(server.stop)

    def need(self, server, why):
        if server is None:
            self.skipTest(why)

    def flush(self, path, source, count, timeout=10):
        """Wait until the server has logged count lines of source in path (Apache writes a line
        when the response ends, rotatelogs when it reads it); those lines."""
        return wait_until(
            lambda: len(lines_of(path, source)) >= count and lines_of(path, source), timeout, path
        )

    # ---------------------------------------------------------------- 1, 2: the seed deployment
    @unittest.skipUnless(HAVE_APACHE, NEED_APACHE)
    def test_1_2_rotatelogs_dated_files_a_burst_over_a_rotation_alerts_once_through_a_real_rsyslogd(self):
        if not (RSYSLOGD and LOGGER):
            self.skipTest("rsyslog and logger are not installed (Debian: apt install rsyslog bsdutils)")
        alerts_file = os.path.join(self.dir, "alerts.log")
        sock = os.path.join(self.dir, "alert.sock")
        body = [
            'module(load="imuxsock" SysSock.Use="off")',
            'template(name="pri" type="string" string="%syslogfacility-text%.%syslogseverity-text% '
            '%syslogtag%%msg%\\n")',
            'input(type="imuxsock" Socket="%s" ruleset="alerts")' % sock,
            'ruleset(name="alerts") { action(type="omfile" file="%s" template="pri") }' % alerts_file,
        ]
        syslog = Rsyslogd(self.dir, "rsyslog", "\n".join(body))
        self.addCleanup(syslog.kill)
        wait_until(lambda: os.path.exists(sock), 5, "rsyslogd's socket", syslog.diagnostics)
        dated = os.path.join(self.dir, "dated")
        monitor = Daemon(
            "--log-dir", dated, "--log-prefix", "ssl_www_log-", "--date-format", "%Y-%m-%d-%H%M%S",
            "--syslog-socket", sock, "--interval", "0.05",
        )  # fmt: skip
        self.addCleanup(monitor.kill)
        monitor.wait_for("alerting at")
        port = self.apache.port
        for i in range(12):  # a browser whose referer and agent mention the target: never counts
            headers = {"Referer": "http://127.0.0.1/today_download", "User-Agent": "today_download-fan/1.0"}
            request(port, "/index.html?i=%d" % i, "127.0.0.11", headers)
        for i in range(5):
            self.assertEqual(request(port, "/today_download?album=%d" % i, "127.0.0.10")[0], 200)
        time.sleep(ROTATION - time.time() % ROTATION + 0.05)  # into rotatelogs' next period
        for i in range(5, 10):
            self.assertEqual(request(port, "/today_download?album=%d" % i, "127.0.0.10")[0], 200)
        try:
            monitor.wait_for(
                "SUSPICIOUS ACTIVITY: IP 127.0.0.10 accessed today_download 10 times", "out", timeout=8
            )
        except AssertionError as e:  # which file got which lines
            shown = {p: [line[:60] for line in read_lines(os.path.join(dated, p))] for p in os.listdir(dated)}
            raise AssertionError("%s\n%s" % (shown, e)) from None
        wait_until(lambda: read_lines(alerts_file), 5, "the alert in rsyslogd's file", syslog.diagnostics)
        files = sorted(glob.glob(os.path.join(dated, "ssl_www_log-*")))
        written = [line for path in files for line in lines_of(path, "127.0.0.10")]
        self.assertEqual(len(written), 10)
        self.assertGreaterEqual(len([p for p in files if lines_of(p, "127.0.0.10")]), 2, "over a rotation")
        monitor.wait_passes(2)
        self.assertEqual(monitor.stop(), 0)
        self.assertEqual([line for line in monitor.out if "SUSPICIOUS" in line][1:], [])  # exactly once
        self.assertFalse([line for line in monitor.out if "127.0.0.11" in line])
        self.assertEqual(
            read_lines(alerts_file),
            ["user.err AlbumMonitor: " + EXPECTED.replace("%s", "127.0.0.10").replace("%d", "10")],
        )
        syslog.stop()
        alerts, report = replay(*files)  # the same files in replay: the same alert
        self.assertEqual(
            [(a["client"], a["count"]) for a in alerts if a["client"] == "127.0.0.10"], [("127.0.0.10", 10)]
        )

    # ---------------------------------------------------------------- 3: hostile requests
    @unittest.skipUnless(HAVE_APACHE, NEED_APACHE)
    def test_3_apache_padding_basic_user_names_and_a_digest_user_with_a_fake_time(self):
        port, log = self.apache.port, os.path.join(self.dir, "aws.log")
        high = "%FF" * 2000  # 6,000 bytes of query; Apache logs the request line as sent
        agent = "\xff" * 8000  # a header of high bytes: logged as \xff, four characters each
        for i in range(10):
            request(
                port,
                "/today_download?%s%d" % (high, i),
                "127.0.0.20",
                {"User-Agent": agent, "Referer": agent},
            )
        for _ in range(10):  # Basic user names that name another address, with spaces and commas
            status, _ = request(port, "/private/today_download", "127.0.0.21", basic("x,203.0.113.66 y z"))
            self.assertEqual(status, 401)
        fake = 'a [01/Jan/2099:00:00:00 +0000] "GET /today_download HTTP/1.1" 200 1 "-" "-" x'
        for _ in range(3):  # a Digest user name may hold a colon, so a whole fake time and request
            self.assertEqual(request(port, "/digest/", "127.0.0.22", digest(port, fake))[0], 401)
        padded = self.flush(log, "127.0.0.20", 10)
        self.assertGreater(min(len(line) for line in padded), 60000)  # as wide as the issue measured
        framed = self.flush(log, "127.0.0.21", 10)
        self.assertIn("x,203.0.113.66 y z", framed[0])
        digested = self.flush(log, "127.0.0.22", 3)
        self.assertIn("01/Jan/2099", digested[0])  # the fake time stands in the user field
        alerts, report = replay(log)
        clients = {a["client"]: a["count"] for a in alerts}
        self.assertEqual(clients.get("127.0.0.20"), 10)  # padding evades nothing
        self.assertEqual(clients.get("127.0.0.21"), 10)  # the real client, never 203.0.113.66
        self.assertNotIn("203.0.113.66", json.dumps(report["top"]))
        self.assertLess(report["log_last_time"], time.time() + 3600)  # no 2099 in the log's span
        self.assertEqual(report["late_ignored"], 0)

    @unittest.skipUnless(NGINX, NEED_NGINX)
    def test_3_nginx_logs_any_basic_user_name_and_it_names_no_client(self):
        log = os.path.join(self.dir, "nginx.log")
        for i in range(10):
            request(self.nginx.port, "/today_download?i=%d" % i, "127.0.0.30", basic('a, 203.0.113.77 "b" c'))
        lines = self.flush(log, "127.0.0.30", 10)
        self.assertIn(r"a, 203.0.113.77 \x22b\x22 c", lines[0])  # nginx's own escaping
        alerts, report = replay(log)
        self.assertEqual([(a["client"], a["count"]) for a in alerts], [("127.0.0.30", 10)])
        self.assertEqual(report["late_ignored"], 0)

    # ---------------------------------------------------------------- 4: a download manager
    @unittest.skipUnless(NGINX, NEED_NGINX)
    def test_4_a_download_manager_counts_once_with_ranges_once_and_each_line_without(self):
        log, source = os.path.join(self.dir, "nginx.log"), "127.0.0.40"
        url = "http://127.0.0.1:%d/album.zip?today_download=1" % self.nginx.port
        if ARIA2C:
            done = subprocess.run(
                [ARIA2C, "-x", "16", "-s", "16", "-k", "1M", "--interface", source, "-d", self.dir]
                + ["-o", "album.zip", "--allow-overwrite=true", "--file-allocation=none", "-q", url],
                capture_output=True,
                timeout=60,
            )
            self.assertEqual(done.returncode, 0, done.stderr)
        else:  # the same Range requests: one 200 cut short, then 1 MiB segments
            request(self.nginx.port, "/album.zip?today_download=1", source)
            for k in range(1, 16):
                start = k * (DOWNLOAD_BYTES // 16)
                headers = {"Range": "bytes=%d-%d" % (start, start + DOWNLOAD_BYTES // 16 - 1)}
                request(self.nginx.port, "/album.zip?today_download=1", source, headers)
        # aria2c -x 16 -s 16 -k 1M of 16 MiB, and the fallback alike: 16 lines (the 200 is logged last)
        lines = self.flush(log, source, 16)
        statuses = [line.split('" ')[1].split()[0] for line in lines]
        self.assertGreater(statuses.count("206"), 10, lines)
        alerts, _ = replay(log)
        self.assertEqual([a["client"] for a in alerts if a["client"] == source], [source])  # each line
        alerts, report = replay(log, "--ranges-once")
        self.assertEqual([a for a in alerts if a["client"] == source], [])
        top = {row["client"]: row["requests"] for row in report["top"]}
        self.assertEqual(top[source], 1)  # one download

    # ---------------------------------------------------------------- 5: AWS's layout behind a proxy
    @unittest.skipUnless(HAVE_APACHE and NGINX, NEED_APACHE + "; " + NEED_NGINX)
    def test_5_aws_layout_behind_nginx_counts_per_real_client(self):
        log = os.path.join(self.dir, "aws.log")
        for i in range(10):  # through the proxy: Apache sees 127.0.0.1, X-Forwarded-For names 127.0.0.50
            self.assertEqual(request(self.nginx.proxy_port, "/today_download?p=%d" % i, "127.0.0.50")[0], 200)
        for i in range(10):  # straight to Apache: no X-Forwarded-For, %h is the client
            self.assertEqual(request(self.apache.port, "/today_download?d=%d" % i, "127.0.0.51")[0], 200)
        proxied = self.flush(log, "127.0.0.50", 10)
        direct = self.flush(log, "127.0.0.51", 10)
        self.assertTrue(proxied[0].startswith("127.0.0.50 127.0.0.1 - - ["), proxied[0])
        self.assertTrue(direct[0].startswith("- 127.0.0.51 - - ["), direct[0])
        alerts, _ = replay(log, "--trusted-proxy", "127.0.0.1/32")
        counted = {a["client"]: a["count"] for a in alerts}
        self.assertEqual((counted.get("127.0.0.50"), counted.get("127.0.0.51")), (10, 10))
        self.assertNotIn("127.0.0.1", counted)
