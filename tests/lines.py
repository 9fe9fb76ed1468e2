"""Log lines of every layout the monitor reads, shared by test_formats and test_fast_path.

LAYOUTS: (name, the client it must give, a template) for each layout of the Apache
mod_log_config and nginx log_format documentation (Common, Combined, X-Forwarded-For, %v,
ISO times, syslog headers); layout_line() fills a template at a time. common() is one
Combined line of any first field, undated() one whose time cannot be read, and
not_counted_lines() one line for each reason a line does not count. TRUSTED: the
--trusted-proxy flags the X-Forwarded-For layouts assume.
"""

import datetime

from helpers import clf_time

TRUSTED = ("--trusted-proxy", "10.0.0.5", "--trusted-proxy", "10.0.1.0/24")

REQUEST = '"GET /today_download HTTP/1.1" 200 1024'
REFERER_AGENT = ' "https://www.example.com/albums/7" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0)"'


def iso(t, minutes=0, fraction="", zulu=False):
    """ISO 8601 text of epoch t in a zone minutes east of UTC, as nginx's $time_iso8601 writes it."""
    moment = datetime.datetime.fromtimestamp(t, datetime.timezone(datetime.timedelta(minutes=minutes)))
    zone = "Z" if zulu else moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone


# (name, the client it must give, the line with {clf} for Apache's %t and {iso...} for nginx's time)
LAYOUTS = (
    ("Common, IPv4", "192.0.2.10", "192.0.2.10 - - [{clf}] " + REQUEST),
    ("Common, IPv6", "2001:db8::10", "2001:db8::10 - - [{clf}] " + REQUEST),
    ("Combined, IPv4, a user", "192.0.2.11", "192.0.2.11 - frank [{clf}] " + REQUEST + REFERER_AGENT),
    (
        "Combined, IPv6 not canonical",
        "2001:db8::11",
        "2001:DB8:0:0::11 - - [{clf}] " + REQUEST + REFERER_AGENT,
    ),
    (
        "X-Forwarded-For for %h: client, trusted proxy",
        "203.0.113.9",
        "203.0.113.9, 10.0.0.5 - - [{clf}] " + REQUEST + REFERER_AGENT,
    ),
    (
        "X-Forwarded-For for %h: client, two trusted proxies",
        "203.0.113.10",
        "203.0.113.10, 10.0.1.7, 10.0.0.5 - - [{clf}] " + REQUEST + REFERER_AGENT,
    ),
    ("X-Forwarded-For for %h: one address", "203.0.113.11", "203.0.113.11 - - [{clf}] " + REQUEST),
    (
        "X-Forwarded-For for %h: spoofed leftmost entry",
        "203.0.113.12",
        "1.2.3.4, 203.0.113.12 - - [{clf}] " + REQUEST + REFERER_AGENT,
    ),
    (
        "X-Forwarded-For for %h: IPv6 client",
        "2001:db8::12",
        "2001:db8::12, 10.0.0.5 - - [{clf}] " + REQUEST + REFERER_AGENT,
    ),
    (
        "Combined + X-Forwarded-For field behind a trusted proxy",
        "203.0.113.13",
        "10.0.0.5 - - [{clf}] " + REQUEST + REFERER_AGENT + ' "203.0.113.13"',
    ),
    (
        "Combined + X-Forwarded-For field, spoofed leftmost entry",
        "203.0.113.14",
        "10.0.0.5 - - [{clf}] " + REQUEST + REFERER_AGENT + ' "1.2.3.4, 203.0.113.14"',
    ),
    (
        "Combined + X-Forwarded-For field through two trusted proxies",
        "203.0.113.15",
        "10.0.1.7 - - [{clf}] " + REQUEST + REFERER_AGENT + ' "203.0.113.15, 10.0.0.5"',
    ),
    (
        "AWS's X-Forwarded-For %h behind a trusted balancer",
        "203.0.113.16",
        "203.0.113.16 10.0.0.5 - - [{clf}] " + REQUEST + REFERER_AGENT,
    ),
    (
        "AWS's X-Forwarded-For %h, two entries",
        "203.0.113.17",
        "203.0.113.17, 10.0.1.7 10.0.0.5 - - [{clf}] " + REQUEST + REFERER_AGENT,
    ),
    ("AWS's X-Forwarded-For %h, a direct request", "198.51.100.8", "- 198.51.100.8 - - [{clf}] " + REQUEST),
    ("%v:port %h", "192.0.2.20", "www.example.com:443 192.0.2.20 - - [{clf}] " + REQUEST + REFERER_AGENT),
    ("%v %h", "192.0.2.21", "www.example.com 192.0.2.21 - - [{clf}] " + REQUEST + REFERER_AGENT),
    ("IPv6 %v:port %h", "198.51.100.7", "::1:80 198.51.100.7 - - [{clf}] " + REQUEST + REFERER_AGENT),
    ("nginx $time_iso8601", "198.51.100.30", "198.51.100.30 - - [{iso}] " + REQUEST + REFERER_AGENT),
    ("ISO time without brackets", "198.51.100.31", "198.51.100.31 - - {iso} " + REQUEST + REFERER_AGENT),
    ("ISO time with milliseconds", "198.51.100.32", "198.51.100.32 - - [{iso_ms}] " + REQUEST),
    ("ISO time in UTC (Z)", "198.51.100.33", "198.51.100.33 - - [{iso_z}] " + REQUEST + REFERER_AGENT),
    ("ISO time, microseconds, Z, no brackets", "198.51.100.34", "198.51.100.34 - - {iso_us_z} " + REQUEST),
    ("ISO time west of UTC", "198.51.100.35", "198.51.100.35 - - [{iso_west}] " + REQUEST + REFERER_AGENT),
    ("text between the time and the request", "198.51.100.36", "198.51.100.36 - - [{clf}] (0 s) " + REQUEST),
    ("%D before the request", "198.51.100.37", "198.51.100.37 - - [{clf}] 48213 " + REQUEST + REFERER_AGENT),
    (
        "syslog RFC 3164 header",
        "192.0.2.40",
        "Nov 23 06:59:06 web1 apache: 192.0.2.40 - - [{clf}] " + REQUEST + REFERER_AGENT,
    ),
    (
        "syslog RFC 3164 header, one-digit day and a pid",
        "192.0.2.41",
        "Nov  3 06:59:06 web1 apache[2817]: 192.0.2.41 - - [{clf}] " + REQUEST + REFERER_AGENT,
    ),
    (
        "rsyslog high-precision header",
        "192.0.2.42",
        "2026-11-23T06:59:06.123456+00:00 web1 apache: 192.0.2.42 - - [{clf}] " + REQUEST + REFERER_AGENT,
    ),
    (
        "syslog RFC 5424 header",
        "192.0.2.43",
        "<13>1 2026-11-23T06:59:06+00:00 web1 apache - - - 192.0.2.43 - - [{clf}] " + REQUEST + REFERER_AGENT,
    ),
    (
        "syslog RFC 3164 header without a colon",
        "192.0.2.44",
        "Nov 23 06:59:06 web2 apache 192.0.2.44 - - [{clf}] " + REQUEST + REFERER_AGENT,
    ),
    (
        "syslog RFC 5424 header with structured data, ISO access time",
        "192.0.2.45",
        '<13>1 2026-11-23T06:59:06+00:00 web1 apache 2817 access [origin ip="192.0.2.200"] '
        "192.0.2.45 - - [{iso_z}] " + REQUEST + REFERER_AGENT,
    ),
    (
        "syslog header before %v:port %h",
        "192.0.2.46",
        "Nov 23 06:59:06 web1 apache: www.example.com:443 192.0.2.46 - - [{clf}] " + REQUEST + REFERER_AGENT,
    ),
)


def layout_line(template, t):
    """One line of a layout at epoch t, ending with a newline."""
    return (
        template.format(
            clf=clf_time(t),
            iso=iso(t, 540),
            iso_ms=iso(t, 60, ".250"),
            iso_z=iso(t, zulu=True),
            iso_us_z=iso(t, fraction=".123456", zulu=True),
            iso_west=iso(t, -300),
        )
        + "\n"
    )


def common(client, t, path="/today_download", referer="-"):
    """One Combined line (str) whose first field is client (any text)."""
    return '%s - - [%s] "GET %s HTTP/1.1" 200 1024 "%s" "Mozilla/5.0"\n' % (
        client,
        clf_time(t),
        path,
        referer,
    )


UNDATED = '192.0.2.77 - - [09/Jul/2025 14:30:25] "GET /today_download HTTP/1.1" 200 1024 "-" "Mozilla/5.0"\n'


def undated(client):
    """A matching line of client whose time cannot be read."""
    return UNDATED.replace("192.0.2.77", client)


def not_counted_lines(t):
    """One matching line for each reason a line does not count (--ignore-ip 192.0.2.99); the
    late line is two days older than t."""
    return {
        "no client address": common("host.example.com", t),
        "ignored address": common("192.0.2.99", t),
        "late": common("192.0.2.51", t - 2 * 86400),
    }
