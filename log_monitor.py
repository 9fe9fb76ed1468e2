#!/usr/bin/env python3
"""log_monitor: alert through syslog when one client hammers one URL.

Follows a dated Apache access log (LOG_DIR/LOG_PREFIX + YYYY-MM-DD) as it is
written, counts per client the requests whose request line contains
TARGET_MESSAGE, and when one client reaches THRESHOLD_COUNT requests within
TIME_WINDOW seconds (by the log's own timestamps) sends

    SUSPICIOUS ACTIVITY: IP 192.168.1.100 accessed today_download 10 times in 10 minutes

to syslog by running `logger`, and prints it on stdout.

Usage:
    python3 log_monitor.py                      # follow today's dated log
    python3 log_monitor.py --log-file PATH      # follow one fixed file (tail -F)
    python3 log_monitor.py --replay FILE...     # run the detector over old logs
    python3 log_monitor.py --dry-run            # follow, print alerts, no syslog
    python3 log_monitor.py --help

Signals: SIGTERM/SIGINT stop (exit 0); SIGHUP re-opens the log files at once;
SIGUSR1 prints one status line on stderr. From the script's first line on, none
of them is fatal: one that comes during start-up is acted on once it is ready.

Exit status: 0 after a stop by signal, the end of standard input, or a
finished replay; 1 when a replay file cannot be read to its end, or its --html
page cannot be written at the end (a full disk); 2 for bad configuration (one
line on stderr; an --html path that cannot be written is refused at start);
130 when a replay is interrupted (Ctrl-C).

Only the standard library is used; Python 3.9 or newer.

Contents, top to bottom (each section uses only the ones above it):
  configuration      the block users edit (LOG_DIR ... WATCH_FAILURES); Settings
  helpers            Reporter (a condition said once), printable_text, iso_time,
                     duration_text, window_text
  reading a line     LineParser: formats, times, clients, why a line did not count;
                     parse_clf_time, parse_address, equal_rows (a flood's fast path)
  the sliding window SlidingWindow.add(client, second) -> Alert; Hits, ClientTable,
                     realert_due (the one rule for alerting again)
  counting           Detector: lines -> LineParser -> SlidingWindow, for the live
                     daemon, the restart rebuild and replay alike; not_counted
  alert text         alert_message (the SMS), alert_line, url_alert_line
  reading files      LineReader (bounded chunks), LogFile, Follower (tail -F),
                     Retiring (rotated files), StreamReader (standard input)
  the state file     StateFile (save, resume), rebuild_window (a restart's windows)
  sending alerts     SyslogSender (logger), BackgroundQueue and its Courier,
                     StdoutWriter and Hooks; Alerting (stdout, syslog, hooks)
  the daemon loop    Monitor.poll_once(now) and periodic(now), run(); LiveLog,
                     status_line, Notifier (sd_notify), Signals
  watching URLs      UrlState (up/down), probe_url, UrlWatcher
  replay             replay(settings, on_alert) -> report; Tally, Sweep, Timeline
  the replay report  the table model (Table, Column) and its renderers:
                     report_lines (terminal), report_html, report_json
  command line       parse_args(argv) -> Settings, run_replay, main(argv) -> status
"""

import signal

if __name__ == "__main__":
    # First, before the imports and the set-up: a signal the daemon handles (logrotate's HUP,
    # an operator's USR1 or TERM) waits here until main() has its handlers, never kills it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1})

import argparse
import array
import bisect
import collections
import contextlib
import datetime
import errno
import functools
import heapq
import itertools
import ipaddress
import json
import logging
import operator
import os
import queue
import re
import select
import shlex
import shutil
import socket
import stat
import sys
import textwrap
import threading
import time
import zlib

__version__ = "1.0.0"

# ---------------------------------------------------------------- configuration
# Edit these, or override them with the command-line flags (--help).
# (ruff format leaves the block below aligned: it is the part users edit)
# fmt: off
LOG_DIR = "/logs/apache"            # directory of the dated access logs
LOG_PREFIX = "ssl_www_log-"         # file name before the date
LOG_DATE_FORMAT = "%Y-%m-%d"        # strftime format of the date in the name
USE_UTC = False                     # name files by the UTC date (rotatelogs without -l)
LOG_FILE = None                     # follow this one file instead of the dated series
TARGET_MESSAGE = "today_download"   # text that makes a request count
CHECK_INTERVAL = 1                  # seconds between polls of the log
TIME_WINDOW = 600                   # seconds: the sliding window
THRESHOLD_COUNT = 10                # requests within TIME_WINDOW that raise an alert
CLEANUP_INTERVAL = 300              # seconds between sweeps of idle clients
SYSLOG_FACILITY = "user.error"      # logger -p; facility.level
SYSLOG_TAG = "AlbumMonitor"         # logger -t (an SMS gateway may keep 5 characters)
SYSLOG_SOCKET = None                # Unix socket for alerts; None: logger's /dev/log
LOGGER_TIMEOUT = 3                  # seconds before a hung logger is given up
STATE_FILE = None                   # path that keeps the read position across restarts
STATE_SAVE_INTERVAL = 5             # seconds between saves of the state file
MAX_TRACKED_IPS = 200000            # clients held at once (bounds memory under a flood)
IPV6_PREFIX = 128                   # count IPv6 clients per /N prefix (64: one customer)
IPV4_PREFIX = 32                    # count IPv4 clients per /N prefix (24: a subnet)
RANGES_ONCE = False                 # a 206 for a target the client fetched within the window: not counted
IGNORE_IPS = []                     # addresses or CIDR blocks never counted
TRUSTED_PROXIES = []                # load balancers / CDNs: X-Forwarded-For names the client
ON_ALERT = []                       # commands run after each alert (see --on-alert)
HOOK_TIMEOUT = 10                   # seconds an --on-alert command may run
ROTATED_FILE_IDLE = 300             # seconds a rotated-away file is read after it last grew
MAX_CLOCK_AHEAD = 60                # seconds a live line may be ahead of the clock
MAX_LINE_BYTES = 65536              # bytes of a line read; client, time and request stand in them
READ_CHUNK_BYTES = 1 << 20          # bytes read from a file at a time
LOG_LEVEL = "INFO"                  # stderr diagnostics; DEBUG: tracebacks of failed passes
WATCH_URLS = []                     # URLs to request every WATCH_EVERY seconds; alert when not 200
WATCH_EVERY = 60                    # seconds between requests of each watched URL
WATCH_TIMEOUT = 10                  # seconds a watched URL has to answer
WATCH_FAILURES = 2                  # failed requests in a row that make a URL down
# fmt: on

DEFAULT_SYSLOG_SOCKET = "/dev/log"
EXIT_STATUSES = (
    "Exit status: 0 after a stop by signal, the end of standard input, or a finished replay; 1 when a "
    "replay file cannot be read to its end, or its --html page cannot be written at the end (a full "
    "disk); 2 for bad configuration (one line on stderr; an --html path that cannot be written is "
    "refused at start); 130 when a replay is interrupted (Ctrl-C)."
)
EXAMPLES = """examples:
  follow today's dated log, alerts to syslog:
    python3 log_monitor.py
  follow one file, print alerts, send nothing:
    python3 log_monitor.py --log-file /var/log/apache2/access.log --dry-run
  choose the threshold from a month of rotated logs, with an HTML report:
    python3 log_monitor.py --replay /var/log/apache2/access.log* --sweep-window 60 --html report.html
  Apache piped logging (CustomLog "|/usr/bin/python3 /usr/local/bin/log_monitor.py --log-file -" combined):
    tail -F /var/log/apache2/access.log | python3 log_monitor.py --log-file -
  change the flags of the systemd service (a drop-in that resets ExecStart=):
    systemctl edit log-monitor"""
log = logging.getLogger("log_monitor")


class Settings:
    """Every tunable the code uses, from the configuration block and the flags.

    parse_args() builds one; tests build or change one to shorten intervals
    instead of sleeping. Times are seconds. A name not given keeps its default
    here; an unknown name is a TypeError.
    """

    log_dir = LOG_DIR
    log_prefix = LOG_PREFIX
    date_format = LOG_DATE_FORMAT
    utc = USE_UTC
    log_file = LOG_FILE
    target = TARGET_MESSAGE
    interval = CHECK_INTERVAL
    window = TIME_WINDOW
    threshold = THRESHOLD_COUNT
    cleanup_interval = CLEANUP_INTERVAL
    facility = SYSLOG_FACILITY
    tag = SYSLOG_TAG
    syslog_socket = SYSLOG_SOCKET
    logger_timeout = LOGGER_TIMEOUT
    state_file = STATE_FILE
    state_save_interval = STATE_SAVE_INTERVAL
    max_clients = MAX_TRACKED_IPS
    ipv6_prefix = IPV6_PREFIX
    ipv4_prefix = IPV4_PREFIX
    ranges_once = RANGES_ONCE
    rotated_idle = ROTATED_FILE_IDLE
    max_clock_ahead = MAX_CLOCK_AHEAD
    max_line_bytes = MAX_LINE_BYTES
    read_chunk_bytes = READ_CHUNK_BYTES
    from_start = False
    dry_run = False
    replay = None
    top = 10
    watch_every = WATCH_EVERY
    watch_timeout = WATCH_TIMEOUT
    watch_failures = WATCH_FAILURES
    watch_only = False  # URLs given and no log: follow no file
    json = False  # alerts (and a replay's report) as JSON lines
    hook_timeout = HOOK_TIMEOUT
    html = None  # a replay's report as an HTML file
    sweep_windows = ()  # more windows (seconds) for a replay's threshold sweep
    log_level = LOG_LEVEL
    quiet = False  # alerts and problems only
    config = None  # the --config file read
    print_config = False
    sources = None  # configuration NAME -> where its value came from (parse_args)

    def __init__(self, **values):
        self.ignore_ip, self.watch_urls, self.trusted_proxies, self.on_alert = [], [], [], []
        for name, value in values.items():
            if not hasattr(self, name):
                raise TypeError("unknown setting %r" % name)
            setattr(self, name, value)

    def __repr__(self):
        return "Settings(%s)" % ", ".join("%s=%r" % item for item in sorted(vars(self).items()))


# ---------------------------------------------------------------- helpers
# The signals the daemon acts on. Only its main thread takes them: a worker thread blocks them
# (worker_thread_signals()), so that two signals sent one after the other (USR1, then TERM) are
# acted on in that order, never the later one first while a worker still holds the earlier.
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)


def worker_thread_signals():
    """Block HANDLED_SIGNALS in the calling thread (the first thing a worker thread does)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)


def stderr_to_journald():
    """True when stderr goes to journald, which stamps each line itself: systemd sets
    JOURNAL_STREAM to the device:inode of the stream it connected."""
    try:
        device, inode = os.environ["JOURNAL_STREAM"].split(":")
        st = os.fstat(sys.stderr.fileno())
        return (st.st_dev, st.st_ino) == (int(device), int(inode))
    except (KeyError, ValueError, OSError, AttributeError):  # unset, malformed, no stderr
        return False


def stderr_stamp(t=None):
    """What starts a stderr line: its ISO 8601 time (under nohup, log_monitor.out is read after
    the fact), or nothing under journald."""
    return "" if stderr_to_journald() else iso_time(int(time.time() if t is None else t)) + " "


class PrintableFormatter(logging.Formatter):
    """A logging formatter whose messages reach the terminal printable (printable_text): a file
    name or a log line holding an escape sequence cannot recolour or clear the screen. Each
    line starts with stderr_stamp()."""

    def formatMessage(self, record):
        return stderr_stamp(record.created) + printable_text(super().formatMessage(record))


class Reporter:
    """Logs a condition once, not once per poll; a new condition, or its end, logs again."""

    def __init__(self):
        self.conditions = {}

    def report(self, topic, condition, message, level=logging.WARNING):
        """Log message when topic's condition changed; condition None clears it."""
        if self.conditions.get(topic) != condition:
            self.conditions[topic] = condition
            if message:
                log.log(level, message)


def printable_text(text):
    """text with every non-printable character (escape, newline, tab, lone surrogate) as "?".

    Log text reaches a terminal or a ticket through this: an escape sequence in a
    client key must not recolour or clear the reader's screen.
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else "?" for c in text)


def os_reason(error):
    """Why an OSError happened, in a few words: not found, permission denied, is a directory."""
    reasons = {errno.ENOENT: "not found", errno.EACCES: "permission denied", errno.EPERM: "permission denied"}
    reasons.update({errno.EISDIR: "is a directory", errno.ENOTDIR: "a part of the path is not a directory"})
    return reasons.get(error.errno) or error.strerror or str(error)


def printable(data, limit=120):
    """Log bytes as a short printable text for a diagnostic: never a control character."""
    return printable_text(bytes(data[:limit]).decode("utf-8", "replace"))


def iso_time(t, utc=False):
    """Epoch seconds t as ISO 8601 in the local zone (or UTC): 2025-07-09T14:30:25+09:00.

    Any t: a time the platform cannot convert is given in UTC, and one beyond
    the years 1 to 9999 as @<epoch seconds>.
    """
    try:
        if utc:
            return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()
        return datetime.datetime.fromtimestamp(t).astimezone().isoformat()
    except (OverflowError, OSError, ValueError):
        try:
            epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
            return (epoch + datetime.timedelta(seconds=t)).isoformat()
        except OverflowError:
            return "@%d" % t


def duration_text(seconds):
    """A duration for people: 45s, 2m30s, 1h02m, 3d04h."""
    seconds = int(seconds)
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm%02ds" % divmod(seconds, 60)
    if seconds < 86400:
        return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
    return "%dd%02dh" % (seconds // 86400, seconds % 86400 // 3600)


def window_text(seconds):
    """The window as the alert says it: 600 -> '10 minutes', 60 -> '1 minute', 90 -> '90 seconds'."""
    if seconds % 60 == 0:
        minutes = seconds // 60
        return "1 minute" if minutes == 1 else "%d minutes" % minutes
    return "1 second" if seconds == 1 else "%d seconds" % seconds


# ---------------------------------------------------------------- reading a line

# What one line says, and only that: pure functions of bytes, and LineParser, the one home of
# every rule about log formats, times, clients and the reasons a line did not count.
MONTH_NAMES = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()

MONTHS = {m.encode(): i for i, m in enumerate(MONTH_NAMES, 1)}

# A line is read by position and by the servers' escaping, as they write it: `%h %l %u %t "%r"
# %>s ...`, perhaps behind a syslog header, with a server name or an X-Forwarded-For list before
# %h. Everything after %h is written by the client, and a client cannot write a raw quote:
# Apache writes " as \" (and \ as \\), nginx as \x22. So the request is the first quoted field
# whose quotes no backslash escapes, the time is the time stamp nearest before it (CLF's %t,
# [09/Jul/2025:14:30:25 +0900], or ISO 8601: nginx $time_iso8601, brackets and fractions
# optional; text such as %D may stand between), and the status (%>s) follows the request.
# Every expression runs in time linear in the line: none can be made to scan a line twice.
# The usual line, Common or Combined with no %l: `%h - %u %t "%r" %>s`, one of each, no
# comma before the time (that would be an X-Forwarded-For list) and no escaped quote.
# Groups: the first field, CLF time, request, status. LineParser's fast path; anything else
# goes the long way.
_PLAIN_HEAD = rb'([^ ,"\n]+) - [^ ,"\n]+ \[(\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "'

PLAIN_LINE = re.compile(_PLAIN_HEAD + rb'([^"\\\n]*)"(?: (\d{3})\b)?')

# Each line of a span, with PLAIN_LINE's fields when it is one (else b"" for them)
PLAIN_ROWS = re.compile(rb"(?m)^(" + PLAIN_LINE.pattern + rb"[^\n]*|[^\n]*)\n")

# From a position through the first quote that no backslash escapes (the alternatives exclude
# each other: no backtracking).
TO_RAW_QUOTE = re.compile(rb'(?:[^"\\\n]|\\.)*"')
STATUS = re.compile(rb" (\d{3})\b")
CLF_START = re.compile(rb"\[\d\d/[A-Za-z]{3}/\d{4}:")
ISO_START = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:")
CLF_TIME = re.compile(rb"\[(\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]")
ISO_TIME = re.compile(rb"\[?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)")
PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")
HOST_CHARS = re.compile(rb"[0-9A-Fa-f.:]{2,45}\Z")  # all an address can be made of: a cheap "no" first

# A syslog header before the message (a central rsyslog's merged file):
# "Nov 23 06:59:06 web1 apache: ", "2026-11-23T06:59:06.1+00:00 web1 apache: ",
# "<13>1 2026-11-23T06:59:06.1+00:00 web1 apache - - - ". Its words hold no comma, and a
# space ends it: where a line starts with X-Forwarded-For (AWS's layout), the client writes
# the start of the list and the balancer appends ", address", so a header the client wrote
# there can never take in the address the balancer appended.
SYSLOG_HEADER = re.compile(
    rb"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^\s,]*)"
    rb" [^\s,]+ [^ :\[,]+(?:\[\d+\])?:? "
    rb"|<\d{1,3}>1 [^\s,]+ [^\s,]+ [^\s,]+ [^\s,]+ [^\s,]+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) "
)

# What a log's lines show of its layout (LineParser._learn_layout)
LAYOUT_FIRST, LAYOUT_AFTER = 1, 2

_MAPPED = b"\0" * 10 + b"\xff\xff"  # ::ffff:a.b.c.d, an IPv4 client on an IPv6 socket


# What line_fields() finds in a line: where its time stands, the time stamp, the request.
LineFields = collections.namedtuple("LineFields", "time_at clf iso request status")
LineFields.time_at.__doc__ = "offset of the time, or of the request, or the line's end: %h lies before"
LineFields.clf.__doc__ = "the CLF time stamp (bytes), or b''"
LineFields.iso.__doc__ = "the ISO 8601 time stamp (bytes), or b''"
LineFields.request.__doc__ = "the request field (%r, still escaped), or None: the line has no quoted field"
LineFields.status.__doc__ = "the three digits after the request, or None"


def line_fields(data, start=0, end=None):
    """The LineFields of the line data[start:end] (no newline), read by position: the request is
    the first quoted field whose quotes no backslash escapes, the time the stamp nearest before
    it, the status the number right after it. Linear in the line's length."""
    end = len(data) if end is None else end
    opening = TO_RAW_QUOTE.match(data, start, end)
    if opening is not None and data[opening.end() : opening.end() + 3] == b'" [':  # Apache's empty %u
        opening = TO_RAW_QUOTE.match(data, opening.end() + 1, end)
    request = status = None
    request_at = end
    if opening is not None:
        request_at = opening.end()
        closing = TO_RAW_QUOTE.match(data, request_at, end)
        if closing is None:  # cut: the rest of the line is the request
            request = data[request_at:end]
        else:
            request = data[request_at : closing.end() - 1]
            after = STATUS.match(data, closing.end(), end)
            status = after.group(1) if after else None
    clf = iso = None
    for clf in CLF_START.finditer(data, start, request_at):  # noqa: B007 (the last one)
        pass
    for iso in ISO_START.finditer(data, start, request_at):  # noqa: B007
        pass
    if clf is not None and (iso is None or clf.start() > iso.start()):
        stamp = CLF_TIME.match(data, clf.start(), request_at)
        return LineFields(clf.start(), stamp.group(1) if stamp else b"", b"", request, status)
    if iso is not None:
        stamp = ISO_TIME.match(data, iso.start(), end)
        return LineFields(iso.start(), b"", stamp.group(1) if stamp else b"", request, status)
    return LineFields(request_at - 1 if opening is not None else end, b"", b"", request, status)


EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()  # day numbers to epoch seconds (calendar.timegm)


@functools.lru_cache(maxsize=1024)
def _midnight(day):
    """Epoch seconds of midnight UTC of b'09/Jul/2025', or None: no such day (31/Feb)."""
    month = MONTHS.get(day[3:6])
    try:
        date = None if month is None else datetime.date(int(day[7:11]), month, int(day[0:2]))
    except ValueError:
        return None
    return None if date is None else (date.toordinal() - EPOCH_ORDINAL) * 86400


def parse_clf_time(text):
    """Epoch seconds of b'09/Jul/2025:14:30:25 +0900', or None if it is no real date."""
    midnight = _midnight(bytes(text[:11]))
    hours, minutes, seconds = int(text[12:14]), int(text[15:17]), int(text[18:20])
    if midnight is None or hours > 23 or minutes > 59 or seconds > 59:
        return None
    t = midnight + hours * 3600 + minutes * 60 + seconds
    offset = int(text[22:24]) * 3600 + int(text[24:26]) * 60
    return t - offset if text[21:22] == b"+" else t + offset


def parse_iso_time(text):
    """Epoch seconds of b'2024-02-12T10:00:03.25+01:00' (fraction dropped; no zone: local
    time), or None if it is no real date."""
    try:
        moment = datetime.datetime(
            int(text[0:4]),
            int(text[5:7]),
            int(text[8:10]),
            int(text[11:13]),
            int(text[14:16]),
            int(text[17:19]),
        )
    except ValueError:
        return None
    zone = text[19:].lstrip(b".,0123456789")
    if not zone:
        return int(time.mktime(moment.timetuple()))
    t = (moment.toordinal() - EPOCH_ORDINAL) * 86400 + moment.hour * 3600 + moment.minute * 60 + moment.second
    if zone == b"Z":
        return t
    offset = int(zone[1:3]) * 3600 + int(zone[-2:]) * 60
    return t - offset if zone[:1] == b"+" else t + offset


def fields_time(fields):
    """Epoch seconds of a LineFields' time stamp (CLF or ISO 8601), or None."""
    if fields.clf:
        return parse_clf_time(fields.clf)
    return parse_iso_time(fields.iso) if fields.iso else None


def first_time_in(data, start=0):
    """The log time of the first line in data[start:] (whole lines) whose time can be read, or None."""
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end == -1 else end
        t = fields_time(line_fields(data, start, end))
        if t is not None:
            return t
        start = end + 1
    return None


def parse_address(token):
    """(canonical text, packed bytes) of an address token (bytes), or None if it is none.

    The C parser of the socket module validates (a flood of new addresses is
    what an attack costs us); the text is what ipaddress would print.
    IPv4-mapped IPv6 becomes IPv4. Scope ids (fe80::1%eth0) are refused: the
    part after % is free text, and only a checked address may reach logger.
    """
    if not token or len(token) > 45 or b"%" in token:
        return None
    try:
        text = token.decode("ascii")
        if b":" not in token:
            return text, socket.inet_pton(socket.AF_INET, text)  # it refuses 01.2.3.4, 1.2.3
        packed = socket.inet_pton(socket.AF_INET6, text)
    except (UnicodeDecodeError, OSError, ValueError):
        return None
    if packed[:12] == _MAPPED:
        return socket.inet_ntop(socket.AF_INET, packed[12:]), packed[12:]
    if packed[:10] == b"\0" * 10:  # inet_ntop would write ::1.2.3.4 where ipaddress writes ::102:304
        return str(ipaddress.IPv6Address(packed)), packed
    return socket.inet_ntop(socket.AF_INET6, packed), packed


def address_ranges(networks):
    """[(packed length, first, last)] as integers, for fast membership tests of packed addresses."""
    ranges = []
    for text in networks:
        net = ipaddress.ip_network(text, strict=False)
        ranges.append((net.max_prefixlen // 8, int(net.network_address), int(net.broadcast_address)))
    return ranges


def in_ranges(packed, ranges):
    """True if the packed address lies in one of address_ranges()."""
    n, size = int.from_bytes(packed, "big"), len(packed)
    return any(size == length and first <= n <= last for length, first, last in ranges)


# the first bytes of the addresses private_block() may say yes to: the others skip the call
MAYBE_PRIVATE = frozenset((0, 10, 100, 127, 172, 192, 0xFC, 0xFD))


def private_block(packed):
    """The prefix length of the private, loopback or shared block that holds a packed address
    (10/8, 172.16/12, 192.168/16, 100.64/10, 127/8, ::1, fc00::/7): 8 for 10.1.2.3; 0 for an
    address in none. One of them in front of most requests means a proxy."""
    if len(packed) == 4:
        a, b = packed[0], packed[1]
        if a == 10 or a == 127:
            return 8
        if a == 172 and 16 <= b < 32:
            return 12
        if a == 192 and b == 168:
            return 16
        return 10 if a == 100 and 64 <= b < 128 else 0
    if packed[0] & 0xFE == 0xFC:
        return 7
    return 128 if packed == b"\0" * 15 + b"\1" else 0


def equal_rows(data, start, end, piece=1 << 16):
    """(rows, lines): rows, (fields, n) for the lines of data[start:end] (whole lines): fields
    as PLAIN_ROWS.findall gives them, n how many equal lines in a row they stand for; lines,
    how many lines there are when it counted them (the equal lines' way), else None. Where
    lines repeat (one client hammering: many equal lines a second), the lines are split at
    their newlines and each run is parsed once; else every line is parsed, in C, a piece of
    about piece bytes at a time (the rows of a whole read chunk at once raised a flood's peak
    memory by 3 MB), and n is 1."""
    sample = bytes(data[start : min(end, start + 16384)]).split(b"\n")
    if len(set(sample)) * 2 > len(sample):
        cuts = [start]
        while cuts[-1] < end:  # after a newline each: PLAIN_ROWS's ^ matches there
            cuts.append(data.find(b"\n", min(cuts[-1] + piece, end) - 1, end) + 1 or end)
        pieces = map(PLAIN_ROWS.findall, itertools.repeat(data), cuts, cuts[1:])
        return zip(itertools.chain.from_iterable(pieces), itertools.repeat(1)), None
    lines = bytes(data[start:end]).split(b"\n")
    lines.pop()  # what follows the last newline: no whole line
    match = PLAIN_ROWS.match
    runs = itertools.groupby(lines)
    rows = ((match(line + b"\n").groups(b""), len(list(same))) for line, same in runs)
    return rows, len(lines)


def mostly_matching(data, start, end, plain_target):
    """True when more than half the lines of data[start:end] are plain lines whose request holds
    the target (then LineParser's row-wise way is the faster); counted in C with plain_target,
    plain_target_rows() of the target."""
    return len(plain_target.findall(data, start, end)) * 2 > data.count(b"\n", start, end)


def plain_target_rows(needle):
    """An expression that finds the starts of the plain lines (PLAIN_LINE) whose request holds
    needle (bytes)."""
    return re.compile(rb"(?m)^" + _PLAIN_HEAD + rb'[^"\\\n]*' + re.escape(needle))


def last_quoted_fields(data, start, end, most):
    """The last most quoted fields of data[start:end] (still escaped; quotes no backslash
    escapes), in order: fewer when the line holds fewer. Linear: each field is scanned once."""
    fields, at = collections.deque(maxlen=most), start
    while True:
        opening = TO_RAW_QUOTE.match(data, at, end)
        closing = None if opening is None else TO_RAW_QUOTE.match(data, opening.end(), end)
        if closing is None:
            return list(fields)
        fields.append(bytes(data[opening.end() : closing.end() - 1]))
        at = closing.end()


# What an alert tells of one request, packed in one int: a known-note bit (bit 36; 0 is no note),
# its status code (10 bits), the number of the web server whose syslog header carried it (10 bits,
# 0: none), and 16 bits of the hash of its request line (to count distinct requests). The window
# keeps the notes of a client's recent requests (Hits.notes; see SlidingWindow.first_notes).
NOTE_KNOWN = 1 << 36


def is_host(token):
    """True when token can be %h: an address, or a list whose last entry is one (a list logged in
    place of %h, its entries joined with no space: "203.0.113.9,10.0.0.5")."""
    tail = token[token.rfind(b",") + 1 :]
    return HOST_CHARS.match(tail) is not None and parse_address(tail) is not None


def host_pair(tokens, is_host=is_host, step=-1, most=8):
    """The index of the "-" of the first "address -" (is_host) in tokens from the right (step -1)
    or the left (step 1), or 0; only the first most "word -" are looked at: a line of
    "1.2.3.999 -" cannot make us parse each of its fields."""
    tried = 0
    for j in range(len(tokens) - 1, 0, -1) if step < 0 else range(1, len(tokens)):
        if tokens[j] == b"-" and tokens[j - 1] != b"-":  # (a run of "-" costs nothing)
            if is_host(tokens[j - 1]):
                return j
            tried += 1
            if tried == most:
                break
    return 0


def syslog_header(data, start, end):
    """(the SYSLOG_HEADER match of the line data[start:end] or None, where its message starts);
    rsyslog's RFC 5424 files hold one more space before the message, skipped."""
    header = SYSLOG_HEADER.match(data, start, end)  # fails at once on a plain log line
    if header is None:
        return None, start
    body = header.end()
    return header, body + 1 if data[body : body + 1] == b" " else body


def header_tail(data, header):
    """Where the last part of a SYSLOG_HEADER match starts: an RFC 5424 header's structured
    data, another's tag."""
    if data[header.start() : header.start() + 1] == b"<":
        return header.start() + len(b" ".join(header.group().split(b" ", 6)[:6])) + 1
    return data.rfind(b" ", header.start(), header.end() - 1) + 1


def syslog_host(header):
    """The host name in a syslog header (see SYSLOG_HEADER): 'Jul  9 14:30:25 web1 apache:',
    '2025-07-09T14:30:25+09:00 web1 apache:', '<190>1 2025-07-09T14:30:25Z web1 apache - - -'."""
    words = header.split()
    at = 2 if header[:1] == b"<" else 1 if header[:1].isdigit() else 3
    return words[at] if len(words) > at else b"-"


def request_note(status_code, host, request):
    """The note of a request (see NOTE_KNOWN); request: bytes or a bytearray."""
    return (
        NOTE_KNOWN
        | status_code << 26
        | host << 16
        | hash(request if request.__class__ is bytes else bytes(request)) & 0xFFFF
    )


def _percent_byte(match):
    return bytes((int(match.group(1), 16),))


class LineParser:
    """What lines say: spans of complete log lines in, runs (client, second, status, n) of n
    equal matching requests out, and why the other matching lines did not count. Pure: no I/O,
    no clock.

    Public:
      scan(data, default_time, start, end, newest_allowed) -> runs   every line of a span
      request(data, start, end) -> (client, second, status) or None   one line, the long way
      client(data, start, end) -> client or None                       who the client of a line is
      scan_lines(...), scan_rows(...): the two ways scan() reads a span (tests compare them)
      log_time(stamp, parse), skip_undated(), proxied_hint(); times (the timestamp cache)
      counters: lines_read, matches, skipped, skipped_why[reason], examples[reason],
      ahead, ahead_seconds (lines stamped after newest_allowed), last_line_time,
      private_hits (matching requests per private address), undated_example.

    A request counts when its percent-decoded request line contains the target (Apache
    decodes the path before serving it); in a line with no request, the target anywhere
    counts. Only lines holding the target or a "%" cost Python work, unless most lines
    match (a flood): then one expression splits them all in C and equal lines are parsed
    once. Only a validated address is ever a client. The caches are bounded.
    """

    max_noted = 8192  # most trusted or private keys held at once (see _note)
    max_ranges = 65536  # most (client, request target) pairs held at once (--ranges-once)
    # most lines of one download: aria2c -x 16 -s 16 writes 16, and 18 with -k 1M (issue 23)
    ranges_per_download = 32

    def __init__(
        self,
        target,
        ipv6_prefix=IPV6_PREFIX,
        ignore=(),
        max_line_bytes=MAX_LINE_BYTES,
        trusted=(),
        ipv4_prefix=IPV4_PREFIX,
        ranges_window=None,
    ):
        self.needle = target.encode("utf-8")
        self.max_line_bytes = max_line_bytes
        self.ipv6_prefix, self.ipv4_prefix = ipv6_prefix, ipv4_prefix
        self.prefixing = ipv6_prefix < 128 or ipv4_prefix < 32
        self.ranges_window, self.ranges = ranges_window, {}  # --ranges-once: (client, hash of target) -> mark
        self.hosts, self.host_names, self._codes = {}, [""], {}  # see _host_id
        self.ignore, self.trusted = address_ranges(ignore), address_ranges(trusted)
        self.trusted_keys = set()  # keys seen that are trusted proxies
        self.private_hosts = {}  # address token -> the private or loopback address it is
        self.layouts = {}  # host id (0: no syslog header) -> LAYOUT_ bits its lines showed
        self.skipped_why, self.examples, self._quiet = collections.Counter(), {}, False
        self.private_hits = collections.Counter()
        self.lines_read = self.matches = self.ahead = self.ahead_seconds = self.lines_cut = 0
        self.last_line_time = None  # log time of the last line read, matching or not
        self.span_last_time = None  # of the last line of the last span scanned, if it has one
        self.undated_example = b""
        self._keys, self._plain = {}, {}  # token -> key; plain first field -> key or False
        self._hosts = {}  # a token's last comma entry (45 bytes at most) -> whether it can be %h
        self.times, self._statuses = {}, {}  # timestamp -> epoch seconds; status -> (itself, its note)
        self._plain_target = plain_target_rows(self.needle)

    # -- a span of lines
    def scan(self, data, default_time, start=0, end=None, newest_allowed=None):
        """[(client, second, status, note, n)]: the runs of n equal matching requests in
        data[start:end], whole lines. second is None for a line whose time cannot be read, and
        for one stamped after newest_allowed (live: the clock plus a small tolerance): one line
        from a skewed clock must not move the window's clock hours ahead. status: three digits,
        or None. note: what an alert tells of the request (see request_note)."""
        end = len(data) if end is None else end
        # the last line: how far behind the log we are, and what layout the log has
        last_start = data.rfind(b"\n", start, end - 1) + 1 or start
        last_end = min(end - 1, last_start + self.max_line_bytes)
        last = line_fields(data, last_start, last_end)
        if last_end - last_start >= self.max_line_bytes:  # cut: its time may be a client's (span_time)
            last = last._replace(clf=b"", iso=b"")
            if end - 1 - last_start == self.max_line_bytes:  # as LineReader cuts: the last line of a span
                self.lines_cut += 1
        for at in (start, (start + end) // 2) if end - start > 4096 else ():  # a few lines more
            line_start = data.rfind(b"\n", start, at) + 1 if at > start else start
            self.learn_span(data, line_start, data.find(b"\n", line_start, end) + 1)
        self.learn_span(data, last_start, end)
        requests = []
        lines = None
        if mostly_matching(data, start, min(end, start + 16384), self._plain_target):  # a flood?
            lines = self.scan_rows(data, start, end, requests)
        else:
            self.scan_lines(data, start, end, requests)
        self.lines_read += data.count(b"\n", start, end) if lines is None else lines
        ahead = () if newest_allowed is None else [r[1] for r in requests if (r[1] or 0) > newest_allowed]
        if ahead:  # counted as undated: the window's clock stays
            self.ahead += len(ahead)
            reference = newest_allowed if default_time is None else int(default_time)
            self.ahead_seconds = max(self.ahead_seconds, max(ahead) - reference)
            requests = [(r[0], None, r[2], r[3]) if (r[1] or 0) > newest_allowed else r for r in requests]
        self.span_last_time = self._fields_time(last)  # None: cut, or no time (see recent_time)
        self.last_line_time = self.span_last_time or self.last_line_time
        return [(*request, len(list(same))) for request, same in itertools.groupby(requests)]

    def scan_lines(self, data, start, end, requests):
        """Append the (client, second, status) of the matching requests in data[start:end]: only
        lines that hold the target or a "%" are looked at."""
        needle, find, rfind, plain_match = self.needle, data.find, data.rfind, PLAIN_LINE.match
        limit, first = self.max_line_bytes, False
        i = find(needle, start, end)
        p = find(b"%", start, end)
        while i != -1 or p != -1:
            at = i if p == -1 or (i != -1 and i < p) else p
            line_start = rfind(b"\n", start, at) + 1 or start
            line_end = find(b"\n", at, end)
            line_end = end if line_end == -1 else line_end
            fields = plain_match(data, line_start, line_end) if line_end - line_start <= limit else None
            request = None if fields is None else self._plain_request(*fields.groups())  # the usual line
            if request:
                if not first:  # a plain line: no client can write one where a field stands before %h
                    first = self._learn_layout(0, LAYOUT_FIRST)
            elif request is None:
                request = self.request(data, line_start, line_end)
            if request:
                requests.append(request)
            if i != -1 and i < line_end:
                i = find(needle, line_end, end)
            if p != -1 and p < line_end:
                p = find(b"%", line_end, end)

    def scan_rows(self, data, start, end, requests):
        """scan_lines for a span where most lines match: PLAIN_ROWS splits every line in C,
        equal lines are taken together, and only lines that are not plain, or that cannot be
        counted at once, go the long way. Returns how many lines the span holds, if it counted
        them (see equal_rows), else None."""
        needle, limit, first = self.needle, self.max_line_bytes, False
        rows, lines = equal_rows(data, start, end)
        if self.ranges_window:  # --ranges-once: each line is one of a download's 32, checked alone
            rows = ((fields, 1) for fields, n in rows for _ in range(n))
        for fields, n in rows:
            line, host, stamp, request, status = fields
            plain = host and len(line) <= limit
            found = self._plain_request(host, stamp, request, status, n) if plain else None
            if found:
                if not first:  # as in scan_lines
                    first = self._learn_layout(0, LAYOUT_FIRST)
                if n == 1:
                    requests.append(found)
                else:
                    requests += [found] * n
            elif found is None and (needle in line or b"%" in line):
                for _ in range(n):
                    request = self.request(line, 0, len(line))  # the long way
                    if request is not None:
                        requests.append(request)
        return lines

    def span_time(self, data, start, end):
        """The log time of the span data[start:end] (whole lines) that one line cannot move: the
        median of its first, middle and last lines' times; None for fewer than three lines, or
        when they have none. A line cut at max_line_bytes has none: in AWS's layout its
        X-Forwarded-For, which a client writes, can fill it, a time stamp and all."""
        at = start
        for _ in range(3):  # three lines at least
            at = data.find(b"\n", at, end) + 1
            if not at:
                return None
        times = [self._line_time(data, start, at, end) for at in (start, (start + end) // 2, end - 1)]
        times = sorted(t for t in times if t is not None)
        return times[1] if len(times) == 3 else None

    def recent_time(self, data, start, end, most=3):
        """The log time the span data[start:end] (whole lines) ends at, that one line cannot move:
        the second newest of its last most lines' times (an older line last is usual: Apache
        logs a long request at its end, with its start time); None with fewer than two."""
        times, at = [self.span_last_time], end - 1  # the last line: scan() read it
        at = data.rfind(b"\n", start, at) + 1 or start
        at -= 1
        while at > start and len(times) < most:
            line_start = data.rfind(b"\n", start, at) + 1 or start
            times.append(self._line_time(data, start, line_start, end))
            at = line_start - 1
        times = sorted(t for t in times if t is not None)
        return times[-2] if len(times) >= 2 else None

    def _line_time(self, data, start, at, end):
        """The time of the line of data[start:end] that holds offset at; None for a cut one."""
        line_start = data.rfind(b"\n", start, at) + 1 if at > start else start
        line_end = data.find(b"\n", line_start, end)
        line_end = end if line_end == -1 else line_end
        if line_end - line_start >= self.max_line_bytes:
            return None
        return self._fields_time(line_fields(data, line_start, line_end))

    # -- one line
    def request(self, data, start, end):
        """The long way: (client, second or None, status) of the matching request of any line
        data[start:end] (no newline), or None (a reason counted when it matched). Only the
        line's first max_line_bytes are read: client, time and request stand there, however
        long a client made the rest."""
        line_end, end = end, min(end, start + self.max_line_bytes)
        header, body = syslog_header(data, start, end)
        fields = line_fields(data, body, end)
        if fields.request is None and line_end > end:  # no request where one stands: the rest is unread
            if (
                data.find(self.needle, start, line_end) != -1
            ):  # (AWS's layout: a client's long X-Forwarded-For)
                self._skip("over-long", data[start : start + 60])
            return None
        request = data[body:end] if fields.request is None else fields.request  # no request: the line
        if self.needle not in request:
            if b"%" not in request or self.needle not in PERCENT.sub(_percent_byte, request):
                return None
        host = 0 if header is None else self._host_id(syslog_host(header.group()))
        paired = header is None or self._has_host(bytes(data[body : fields.time_at]))
        self._quiet = not paired  # a reason to skip is said only for the line as read last
        try:
            key = self._client(data, body, fields.time_at, end, host)
        finally:
            self._quiet = False
        if key is None and not paired:
            # what a client wrote at the start of a line (X-Forwarded-For) may look like a syslog
            # header, and take in the "address -" after it: then the line is read again, as it
            # stands where the log's lines have no header (the header is a client's), else from
            # the header's tag (where such a header ends with %h) or structured data (where its
            # "[" runs on to the time's "]"): never from a central file's host and the "-" after
            # it (rsyslog names a host by address, and writes "-" for what it lacks)
            if not (fields.clf or fields.iso):  # the "header" took in the time too
                whole = line_fields(data, start, end)
                if whole.request == fields.request:  # it held no quote: its time is the line's
                    fields = whole
            again = start if self.layouts.get(0) else header_tail(data, header)
            header = host = 0
            key = self._client(data, again, fields.time_at, end, -1)
        t = self._fields_time(fields)
        if not key:
            return None
        if (
            self.ranges_window
            and t is not None
            and self._range_seen(key, request, t, fields.status == b"206")
        ):
            return None
        if t is None and not self.undated_example:  # the first: the one a replay may skip
            self.undated_example = data[start : min(end, start + 60)]
        self.matches += 1
        return key, t, fields.status, request_note(self._status_code(fields.status), host, request)

    def _plain_request(self, host, stamp, request, status, n=1):
        """The fast way: (client, second, status) of n equal lines PLAIN_LINE split into these
        fields, when they request the target from a plain client at a readable time; False when
        they cannot count (no target in the request); else None, for the long way."""
        if self.needle not in request:  # no target: never counts, unless it is percent-encoded
            return None if b"%" in request else False
        t = self.times.get(stamp, False)
        if t is False:
            t = self.log_time(stamp)
        key = None if t is None else self._plain_key(host)
        if key is None:
            return None
        if self.ranges_window and self._range_seen(key, request, t, status == b"206"):  # n is 1
            return False
        if self.private_hosts and host in self.private_hosts:  # (a bytes token: hashed anew)
            self._count_private(host, n)
        self.matches += n
        status = status or None  # findall gives b"" for no status
        known = self._statuses.get(status)  # one object per status, and its part of the note
        if known is None:
            if len(self._statuses) > 1024:
                self._statuses.clear()
            known = self._statuses[status] = (status, NOTE_KNOWN | self._status_code(status) << 26)
        return key, t, known[0], known[1] | hash(request) & 0xFFFF

    def _range_seen(self, key, request, t, partial):
        """--ranges-once: True, and the line skipped, when it belongs to a download already counted:
        client key's request for the same target (the request line's second word) counted less
        than a window from second t, and this one is a 206 (partial), or the counted one was and
        this is the first 200 after it: a download manager's 200 and fifteen 206s are one
        download, in whatever order they are logged (aria2c logs its first, cut-short 200
        last). Any other 200 counts (a client fetching the album again). At most
        ranges_per_download lines make one download: a client that asks each whole download as
        a range (Range: bytes=0-) counts again after that many. Else this one counts, and is
        noted. At most max_ranges pairs are held: past them, the oldest quarter goes."""
        words = request.split(b" ", 2)
        # the target's hash (salted per process), not the target: a 64 KB target costs no more
        mark = (key, hash(bytes(words[1] if len(words) > 1 else request)))  # the long way: a bytearray
        ranges = self.ranges
        last = ranges.pop(mark, None)  # (second, whether it was a 206, lines folded, a 200 folded)
        if (
            last is not None
            and abs(t - last[0]) < self.ranges_window
            and (partial or last[1] and not last[3])
            and last[2] < self.ranges_per_download
        ):
            ranges[mark] = (last[0], last[1], last[2] + 1, last[3] or not partial)
            self._skip("range already counted (--ranges-once)", request)
            return True
        if len(ranges) >= self.max_ranges:
            for old in list(itertools.islice(ranges, len(ranges) // 4)):
                del ranges[old]
        ranges[mark] = (t, partial, 1, False)
        return False

    # -- the client
    def client(self, data, start=0, end=None):
        """The counted client of the line data[start:end] (after any syslog header); None when
        none counts (the reason is skipped). See _client()."""
        end = len(data) if end is None else end
        return self._client(data, start, line_fields(data, start, end).time_at, end)

    def _client(self, data, start, time_at, end, host_id=0):
        """The counted client of a line whose fields before its time stand in data[start:time_at]
        and which ends at end; None when none counts (the reason is skipped).

        Fields by position, from the left: %h, or the second field when the first is a
        server name or address (vhost_combined: `www.example.com:443 192.0.2.9`, `::1:80
        198.51.100.7`), an X-Forwarded-For list or "-" (AWS's `%{X-Forwarded-For}i %h`), or
        the X-Forwarded-For list logged in place of %h (`203.0.113.9, 10.0.0.5 - - [...]`).
        Nothing after %h and %l is read: the user field (%u, which any client fills) never
        names the client nor hides it. When %h is a trusted proxy, the client is taken from
        X-Forwarded-For, walked from the right past trusted proxies as Apache's mod_remoteip
        and nginx's real_ip_recursive do: the list before %h, else the line's last quoted
        field (nginx "$http_x_forwarded_for" after Combined).
        """
        before = self._host_fields(bytes(data[start:time_at]), host_id)
        if before is None:
            return self._skip("client unclear (layout not known yet)", data[start : min(time_at, start + 60)])
        forwarded = None  # an X-Forwarded-For list (or a server name) logged before %h
        if len(before) == 1:
            host = before[0]
            if b"," in host:  # a list with no spaces, logged in place of %h: no address holds a comma
                return self._forwarded(host, host)
        elif (
            before[-2].endswith(b",") or b"," in before[-1]
        ):  # a list logged in place of %h, a client's spaces and all
            return self._forwarded(b" ".join(before), b" ".join(before))
        else:  # "%v %h", "X-Forwarded-For %h"
            forwarded, host = b" ".join(before[:-1]), before[-1]
        key = self._key(host)
        if key is None:
            return self._skip("no client address", host)
        if key in self.trusted_keys:
            if forwarded is not None and (forwarded == b"-" or self._key(forwarded.split(b",")[-1].strip())):
                return self._forwarded(forwarded.replace(b" ", b","), host)
            quoted = last_quoted_fields(data, time_at, end, 4)
            if len(quoted) < 4:  # request, referer, agent, then X-Forwarded-For
                return self._skip("proxied", host)
            return self._forwarded(quoted[-1], host)
        if not key:
            return self._skip("ignored address", host)
        self._count_private(host, 1)
        return key

    def _host_fields(self, text, host_id):
        """The fields of text (a line up to its time) up to %h, %h last, by position: %h is the
        field before %l, "-". Where %h is not the first field, the client may write the fields
        before it (X-Forwarded-For) and "address -" in them; where it is, the client may write
        %u after it (nginx's $remote_user), and "address -" in that. So the pair that is %h %l
        is the first when the line's second field is "-" (%h first), else the last; a line
        that holds both shapes is read as its web server (host_id) writes its other lines,
        learnt from lines no client can write in the other layout (see _learn_layout). None:
        that is not known yet.
        """
        tokens = text.split(b" ", 64)
        if len(tokens) < 2:
            return tokens
        right = text.rsplit(b" ", 64) if len(tokens) > 64 else tokens  # %h %l stand in both
        last = host_pair(right, self._is_host)
        if tokens[1] != b"-":  # a field before %h: a server name, or X-Forwarded-For
            if last:
                self._learn_layout(host_id, LAYOUT_AFTER)
                return right[:last]
        elif last == 1 and right is tokens:  # "address -" once, first: %h is the first field
            self._learn_layout(host_id, LAYOUT_FIRST)
            return tokens[:1]
        elif last:  # "address - ... address -": both readings stand
            # a header of a web server never seen: in a log whose lines have none, a client wrote it
            layout = self.layouts.get(host_id) or self.layouts.get(0, 0)
            if layout & LAYOUT_AFTER:
                return right[:last]
            if not layout:
                return None
            return tokens[:1]
        # no "address -": %l is the first "-" after the first field (with none, a layout of its
        # own: its first field is the client); the skip reason names what stands as %h
        return tokens[: tokens.index(b"-", 1)] if b"-" in tokens[1:] else tokens[:1]

    def _has_host(self, text):
        """True when the fields text (a line up to its time) hold "address -", where %h %l stand."""
        tokens = text.split(b" ", 64)  # never a line's every space: its first and last 64 fields
        right = text.rsplit(b" ", 64) if len(tokens) > 64 else tokens
        return bool(host_pair(tokens, self._is_host, 1) or host_pair(right, self._is_host))

    def _is_host(self, token):
        """is_host(token), once per distinct address-sized tail (a cache of the last few thousand,
        of 45 bytes at most each: a client's long user name is never kept)."""
        tail = token[token.rfind(b",") + 1 :]
        if len(tail) > 45:
            return False
        known = self._hosts.get(tail)
        if known is None:
            if len(self._hosts) > 8192:
                self._hosts.clear()
            known = self._hosts[tail] = is_host(tail)
        return known

    def _learn_layout(self, host_id, layout):
        """Note that host_id's lines show layout: LAYOUT_FIRST (%h the first field, "-" the
        second) or LAYOUT_AFTER (a field before %h). In a log whose first field is %h, a client
        cannot write a line whose second field is not "-"; in one with a field before %h, it
        cannot write a line with "address -" only at its start (the real %h %l follow)."""
        if host_id < 0:  # a line read again past a header a client wrote (see request): no lesson
            return True
        if host_id and self.layouts.get(0):  # a header in a log whose lines have none: a client's
            host_id = 0
        if len(self.layouts) < 1024 or host_id in self.layouts:
            self.layouts[host_id] = self.layouts.get(host_id, 0) | layout
        return True

    def learn_span(self, data, start, end):
        """Learn the layout from every line of the span data[start:end] (whole lines: a few of each
        span scanned, and those before a start at the end of a log, see learn_before); never
        from a line longer than max_line_bytes."""
        while start < end:
            line_end = data.find(b"\n", start, end)
            line_end = end if line_end == -1 else line_end
            if line_end - start >= self.max_line_bytes:  # cut: what it shows may lie past the cut
                pass
            elif PLAIN_LINE.match(data, start, line_end):  # as the fast path would: %h first
                self._learn_layout(0, LAYOUT_FIRST)
            else:
                self.learn_layout(data, start, line_end, line_fields(data, start, line_end).time_at)
            start = line_end + 1

    def learn_layout(self, data, start, end, time_at):
        """Learn the layout from the line data[start:end] (not a matching one: the last of a
        span), its time at time_at."""
        header, body = syslog_header(data, start, end)
        if body < time_at:
            host_id = 0 if header is None else self._host_id(syslog_host(header.group()))
            self._host_fields(bytes(data[body:time_at]), host_id)

    def _forwarded(self, value, example):
        """The client of an X-Forwarded-For value: from the right, the first address that is not a
        trusted proxy (as mod_remoteip); None when there is none (the reason skipped)."""
        for entry in reversed([e for e in value.split(b",") if e.strip()]):
            key = self._key(entry.strip())
            if key is None:  # "-", a name, garbage: nothing left we can trust
                break
            if key not in self.trusted_keys:
                if key:
                    self._count_private(entry.strip(), 1)  # a private client behind an untrusted proxy too
                return key or self._skip("ignored address", entry.strip())
        return self._skip("proxied", example)

    def _count_private(self, token, n):
        # checked each time: with an IPv6 /N prefix, a private address can make a key private
        address = self.private_hosts.get(token)
        if address is not None and (address in self.private_hits or len(self.private_hits) < 1000):
            self.private_hits[address] += n

    def _key(self, token):
        """client_key(token), once per distinct token (a cache of the last few thousand)."""
        if len(token) > 45:  # no address: never kept (a client's long user name)
            return None
        keys = self._keys
        key = keys.get(token, False)
        if key is False:
            if len(keys) > 8192:
                keys.clear()
            key = keys[token] = self.client_key(token)
        return key

    def _plain_key(self, first):
        """The client of a plain line whose first field is first, when the fast path may count
        it: a validated address, not ignored, not a trusted proxy; else None (the long way
        reports it). Cached, the answer "no" too."""
        key = self._plain.get(first)
        if key is None:
            if len(first) > 45:  # no address: never kept (where a client writes the first field)
                return None
            key = self.client_key(first)
            if not key or key in self.trusted_keys:
                key = False
            if len(self._plain) > 65536:
                self._plain.clear()
            self._plain[first] = key
        return key or None

    def client_key(self, token):
        """The counted client for an address token (bytes): canonical address or IPv6 /N prefix;
        '' for an ignored address, None when the token is no address."""
        parsed = parse_address(token)
        if parsed is None:
            return None
        key, packed = parsed
        address = key
        if self.ignore and in_ranges(packed, self.ignore):
            return ""
        if self.trusted and in_ranges(packed, self.trusted):
            self._note(self.trusted_keys, key, None)  # its own address, never a /N shared with clients
            return key
        full = prefix = 8 * len(packed)
        if self.prefixing:
            prefix = self.ipv6_prefix if full == 128 else self.ipv4_prefix
            if prefix < full:
                key = str(ipaddress.ip_network((packed, prefix), strict=False))
        # the proxy hint judges the address, whatever prefix counts it: ::1 counted in ::/64 is
        # loopback, and 172.16.0.1 in 172.0.0.0/8 is private where the /8 is not
        if packed[0] in MAYBE_PRIVATE and private_block(packed):
            self._note(self.private_hosts, token, address)
        return key

    def _note(self, table, key, value):
        """Add key to trusted_keys, or key: value to private_hosts. Past max_noted entries every
        cache of client keys starts afresh: a flood of private or proxy addresses cannot grow
        memory, and a token is looked up again, and noted again, before it is next used."""
        if len(table) >= self.max_noted:
            for cache in (self.trusted_keys, self.private_hosts, self._keys, self._plain):
                cache.clear()
        if value is None:
            table.add(key)
        else:
            table[key] = value

    # -- what an alert tells of a request
    def _status_code(self, status):
        """The status bytes as a number from 0 to 999 (0: none, or not three digits); cached."""
        status = status if status is None or status.__class__ is bytes else bytes(status)
        code = self._codes.get(status)
        if code is None:
            code = int(status) if status and len(status) == 3 and status.isdigit() else 0
            if len(self._codes) > 1024:
                self._codes.clear()
            self._codes[status] = code
        return code

    def _host_id(self, host):
        """A small number for the web server a syslog header names (1 to 1023; 1023: any host past
        the first 1022). host_name(id) is its name."""
        hosts = self.hosts
        found = hosts.get(host)
        if found is None:
            if len(self.host_names) >= 1023:
                return 1023
            found = hosts[host] = len(self.host_names)
            self.host_names.append(printable(host, 64))
        return found

    def host_name(self, host_id):
        """The name of a host number (_host_id)."""
        return self.host_names[host_id] if host_id < len(self.host_names) else "(more hosts)"

    # -- times, and what did not count
    def log_time(self, stamp, parse=parse_clf_time):
        """parse(stamp), once per distinct timestamp (a cache of the last few thousand)."""
        times = self.times
        t = times.get(stamp, False)
        if t is False:  # None is cached too: a stamp that is no real date is parsed once
            if len(times) > 4096:
                times.clear()
            t = times[stamp] = parse(stamp)
        return t

    def _fields_time(self, fields):
        """The time of a line's LineFields (CLF or ISO 8601), or None."""
        if fields.clf:
            return self.log_time(fields.clf)
        return self.log_time(fields.iso, parse_iso_time) if fields.iso else None

    def _skip(self, why, example):
        """Count a matching line that did not count, and keep the first example of each reason;
        not while _quiet (a first reading of a line, which may be read again)."""
        if self._quiet:
            return None
        self.skipped_why[why] += 1
        if why not in self.examples:
            self.examples[why] = printable(example)

    @property
    def skipped(self):
        """Matching lines that did not count."""
        return sum(self.skipped_why.values())

    def skip_undated(self):
        """The last matching line had no readable time and nothing to count it at (replay, before
        any timed line): it did not count."""
        self.matches -= 1
        self._skip("no readable time", self.undated_example)

    def proxied_hint(self):
        """One sentence when one private or loopback address holds most matching requests and no
        proxy is trusted: the log looks proxied. Else None."""
        hits, matches = self.private_hits, self.matches
        if self.trusted or matches < 50 or not hits:
            return None
        key, most = hits.most_common(1)[0]
        if most * 2 <= matches:
            return None
        return (
            "%d %% of the matching requests come from %s, a private or loopback address: the log "
            "looks proxied (a load balancer or CDN in the first field). Use --trusted-proxy %s, or "
            "make the web server log the real client in %%h (Apache mod_remoteip, nginx "
            "set_real_ip_from with real_ip_recursive)" % (100 * most // matches, key, key)
        )


# ---------------------------------------------------------------- the sliding window

# Late lines: Apache logs a request's start time when it ends, so lines come out of
# order. A request up to one window older than the newest one seen is put in its own
# second and every window that holds it is checked. An older one is a long request (a
# download that outlasted the window): it is counted at the newest log time, about when
# it ended, and in `late_counted`. Only a request more than late_limit_seconds older than
# the newest is no request of this log's present (a clock or a merge gone wrong): it is
# counted in `late` and ignored. Clients are kept for `horizon_seconds` (two windows)
# after their newest request so that late lines find their neighbours.
# One alert: the client, its count in the window, the log time (epoch seconds), and the
# file its last request came from (set by the reader, for --json). The evidence (the Detector's):
# first_time, the log second of the first request in the window; notes, those of the window's
# requests (its last 2 * threshold when it holds more); then, from them, statuses ((code, n),
# most first), distinct (request lines), hosts (web servers, for a central syslog file), repeat
# (this client's alerts in the last 24 hours of log time, this one included).
Alert = collections.namedtuple(
    "Alert",
    "client count time file first_time notes statuses distinct hosts repeat",
    defaults=(None,) * 7,
)


def window_peak(secs, cnts, t, window_seconds):
    """Largest count in any window (m - window, m] that holds second t: (count, m).

    secs is sorted and holds t. For t the newest second this is the one
    window ending at t; for a late t every later window that holds it.
    """
    lo = bisect.bisect_right(secs, t - window_seconds)
    j = bisect.bisect_left(secs, t)
    running = sum(cnts[lo : j + 1])
    best, best_end = running, t
    for k in range(j + 1, len(secs)):
        end = secs[k]
        if end >= t + window_seconds:
            break
        running += cnts[k]
        while secs[lo] <= end - window_seconds:
            running -= cnts[lo]
            lo += 1
        if running > best:
            best, best_end = running, end
    return best, best_end


def make_room(table, quota, keep_score, repeat_class):
    """Remove about quota entries from a client table; returns how many.

    One-request clients (values not of repeat_class) go first, oldest first
    (dict order is first-seen order); only if there are too few of those,
    the others with the lowest keep_score(value). So a flood of one-request
    addresses cannot push out a client that keeps coming back.
    """
    quota = max(1, quota)
    ones = (key for key, value in table.items() if value.__class__ is not repeat_class)
    victims = list(itertools.islice(ones, quota))
    if len(victims) < quota:
        others = sorted(
            (keep_score(value), key) for key, value in table.items() if value.__class__ is repeat_class
        )
        victims.extend(key for _, key in others[: quota - len(victims)])
    for key in victims:
        del table[key]
    return len(victims)


class Hits:
    """Requests of one client that came more than once: per-second buckets on log time.

    Memory is bounded by the number of distinct seconds kept (the horizon), not
    by the request rate: 10,000 requests a second are one bucket a second.
    `recent` is the count in the window ending at the newest second, kept up
    to date as buckets are added, so the usual in-order request costs O(1).
    """

    __slots__ = ("secs", "cnts", "total", "alerted_at", "recent", "lo", "notes")

    def __init__(self, first_second, first_note=0):
        self.secs = [first_second]
        self.cnts = [1]
        self.total = 1  # sum of cnts
        self.alerted_at = None  # log second of the last alert
        self.recent = 1  # sum of cnts[lo:]: requests in (newest - window, newest]
        self.lo = 0
        self.notes = array.array("q", (first_note,))  # of the latest requests, in the order counted

    def note(self, note, n, most):
        """Keep the note of n more requests; at least the latest most are kept."""
        notes = self.notes
        if n == 1:
            notes.append(note)
        else:
            notes.extend(itertools.repeat(note, min(n, most)))
        if len(notes) > 2 * most:
            del notes[:-most]

    def add(self, t, window):
        """Count one request at second t (any order); window: the seconds `recent` covers."""
        secs, cnts = self.secs, self.cnts
        newest = secs[-1]
        if t >= newest:
            if t == newest:
                cnts[-1] += 1
            else:
                secs.append(t)
                cnts.append(1)
                lo, edge = self.lo, t - window
                while secs[lo] <= edge:
                    self.recent -= cnts[lo]
                    lo += 1
                self.lo = lo
            self.recent += 1
        else:
            i = bisect.bisect_left(secs, t)
            if secs[i] == t:
                cnts[i] += 1
            else:
                secs.insert(i, t)
                cnts.insert(i, 1)
                if i < self.lo:
                    self.lo += 1
            if t > newest - window:
                self.recent += 1
        self.total += 1

    def add_newest(self, n):
        """Add n requests at the newest second."""
        self.cnts[-1] += n
        self.recent += n
        self.total += n

    def forget_until(self, horizon):
        """Drop buckets at or before second horizon; True when nothing is left."""
        secs = self.secs
        if secs[0] <= horizon:
            k = bisect.bisect_right(secs, horizon)
            self.total -= sum(self.cnts[:k])
            if k > self.lo:
                self.recent -= sum(self.cnts[self.lo : k])
            self.lo = max(0, self.lo - k)
            del secs[:k], self.cnts[:k]
        return not secs


class ClientTable(dict):
    """The window's clients: client -> int (the second of its only request) or Hits, bounded.

    Public: make_room() before adding a client to a full table, forget_until(horizon);
    max_clients, evictions (clients forgotten to make room).
    """

    def __init__(self, max_clients=MAX_TRACKED_IPS):
        super().__init__()
        self.max_clients, self.evictions = max_clients, 0

    def make_room(self):
        """Forget a quarter of the clients, one-request clients first (see make_room)."""
        if not self.evictions:
            log.warning(
                "Tracking %d clients (MAX_TRACKED_IPS): forgetting the oldest one-request clients first",
                self.max_clients,
            )
        self.evictions += make_room(self, self.max_clients // 4, lambda entry: entry.secs[-1], Hits)

    def forget_until(self, horizon):
        """Forget requests at or before second horizon, and clients left with none; how many."""
        stale = [
            key
            for key, entry in self.items()
            if (
                entry <= horizon
                if entry.__class__ is int
                else entry.secs[0] <= horizon and entry.forget_until(horizon)
            )
        ]
        for key in stale:
            del self[key]
        return len(stale)


def realert_due(last_alert, second, window_seconds):
    """The one rule for alerting again: a client that alerted at log second last_alert (None:
    never) may alert again at second only a whole window later. The live window and the
    replay's threshold sweep both decide by it."""
    return last_alert is None or second >= last_alert + window_seconds


class SlidingWindow:
    """Per-client counts of requests on log time; decides alerts. Pure: no I/O, no clock.

    Public: add(client, second) -> Alert | None, add_repeats(client, second, n),
    cleanup() -> how many clients were forgotten; clients (a ClientTable),
    newest_log_time, late, late_counted, late_example, horizon_seconds.

    A client's count is the number of its requests within window_seconds;
    reaching threshold alerts, and the same client alerts again only at a
    request at least one window after its last alert, if the window there
    still holds the threshold (realert_due). Late lines: see the banner. The window
    is the only holder of the threshold.
    """

    late_limit_seconds = 86400

    def __init__(self, window_seconds=TIME_WINDOW, threshold=THRESHOLD_COUNT, max_clients=MAX_TRACKED_IPS):
        self.window = int(window_seconds)
        self.horizon_seconds = 2 * self.window
        self.threshold = threshold
        self.notes_kept = min(2 * threshold, 1000)  # per client that came more than once (Hits.notes)
        # the note of a one-request client's request, kept apart so that its entry stays the shared
        # int of its second (a flood of new clients costs no more): the latest 4,096 at most, so
        # under a flood a client's first request may be missing from its alert's evidence
        self.first_notes = {}
        self.clients = ClientTable(max_clients)
        self.newest_log_time = None  # newest log second of a counted request (never the clock's)
        self.late = self.late_counted = 0
        self.late_example = None

    def add(self, key, t, dated=True, note=0):
        """Count one request of client key at log second t; an Alert or None. note: what the alert
        tells of the request (request_note).

        An undated request (dated False: t is the clock's or the newest log
        time) never moves the window's clock.
        """
        now = self.newest_log_time
        if now is None or t > now:
            now = t
            if dated:
                self.newest_log_time = t
        elif t <= now - self.window:
            if t < now - self.late_limit_seconds:
                self.late += 1
                if self.late_example is None:
                    self.late_example = key, t, now - t
                return None
            self.late_counted += 1
            t = now
        clients = self.clients
        entry = clients.get(key)
        if entry is None:
            if len(clients) >= clients.max_clients:
                clients.make_room()
            if self.threshold > 1:
                clients[key] = t
                first_notes = self.first_notes
                first_notes[key] = note
                if len(first_notes) > 4096:
                    first_notes.clear()
                return None
            entry = clients[key] = Hits(t, note)
        else:
            if entry.__class__ is int:
                entry = clients[key] = Hits(entry, self.first_notes.pop(key, 0))
            entry.add(t, self.window)
            entry.note(note, 1, self.notes_kept)
        if entry.secs[0] <= now - self.horizon_seconds:
            entry.forget_until(now - self.horizon_seconds)
        return self._alert(key, entry, t)

    def _alert(self, key, entry, t):
        """The Alert due after a request at second t was added to entry (Hits), which is marked
        as alerted; None when there is nothing to alert."""
        if entry.total < self.threshold:
            return None
        newest = entry.secs[-1]
        if not realert_due(entry.alerted_at, newest, self.window):
            return None
        if t == newest:  # in order: the one window ending at t, counted as we went
            count, end = entry.recent, t
        else:
            count, end = window_peak(entry.secs, entry.cnts, t, self.window)
        if count < self.threshold:
            return None
        entry.alerted_at = newest
        first = entry.secs[bisect.bisect_right(entry.secs, end - self.window)]
        return Alert(
            key, count, end, first_time=first, notes=tuple(entry.notes[-min(count, self.notes_kept) :])
        )

    def add_repeats(self, key, t, n, note=0):
        """Count up to n more requests of client key at second t, right after add(key, t) counted
        one, as far as none of them could alert: how many were counted (the rest go through
        add() one by one). Same result as n calls of add(), in O(1)."""
        entry = self.clients.get(key)
        if entry.__class__ is not Hits or t != self.newest_log_time or t != entry.secs[-1]:
            return 0  # a first request, or a late one: one by one
        if realert_due(entry.alerted_at, entry.secs[-1], self.window):
            n = min(n, self.threshold - 1 - entry.recent)  # stop short of the alerting one
            if n <= 0:
                return 0
        entry.add_newest(n)
        entry.note(note, n, self.notes_kept)
        return n

    def cleanup(self):
        """Forget clients with nothing within the horizon; returns how many."""
        if self.newest_log_time is None:
            return 0
        return self.clients.forget_until(self.newest_log_time - self.horizon_seconds)


# ---------------------------------------------------------------- counting


# The end of an episode: a client that alerted made no matching request for a whole window (by log
# time). start and end: the log seconds of its first and last request; requests: all of them in
# between; peak: the most in any window; ranges: those answered 206; alerts: how many it raised.
Ended = collections.namedtuple("Ended", "client start end requests peak ranges alerts file", defaults=(None,))


def is_range_alert(alert):
    """True when an alert came mostly from 206 answers for few distinct request lines: a download
    manager's segments (see --ranges-once), not a client fetching many things."""
    ranges = sum(n for code, n in alert.statuses if code == "206")
    return ranges * 2 > alert.count and alert.distinct <= 3


class Detector:
    """The one path of every line: a LineParser's (client, second) pairs into a SlidingWindow.

    Public: feed(data, default_time, start, end, newest_allowed) -> [Alert or Ended];
    alerts (how many it decided), range_alerts (those is_range_alert() calls a download
    manager's, without --ranges-once); episodes (client -> [start, end, requests, peak,
    ranges, alerts] of the clients that alerted and have not ended); parser, window. tally,
    if given, sees every pair too (replay).

    Each Alert gets its evidence (see Alert): what the window's notes say, and this client's
    alerts in the last day (bounded: as many clients as the window holds). An episode ends
    (Ended) at the first log time a whole window after its last request.
    """

    most_episodes = 10000  # open episodes, and clients whose alerts of the day are remembered

    def __init__(self, parser, window, tally=None, cleanup_seconds=None):
        self.parser, self.window, self.tally = parser, window, tally
        self.cleanup_seconds, self.next_cleanup = cleanup_seconds, -(1 << 62)
        self.alerts = self.range_alerts = 0
        # client -> episode; client -> its alert times of the last day; both oldest first
        self.episodes, self.history = collections.OrderedDict(), collections.OrderedDict()
        self.ends = []  # heap of (log second an episode may end, client): checked, not scanned
        self.episodes_forgotten = 0  # episodes let go past most_episodes (an alert flood), no ENDED line

    @classmethod
    def from_settings(cls, settings):
        """A Detector for settings (target, window, threshold, client cap, prefix, ignore list)."""
        return cls(
            LineParser(
                settings.target,
                settings.ipv6_prefix,
                settings.ignore_ip,
                settings.max_line_bytes,
                settings.trusted_proxies,
                settings.ipv4_prefix,
                settings.window if settings.ranges_once else None,
            ),
            SlidingWindow(settings.window, settings.threshold, settings.max_clients),
        )

    def feed(self, data, default_time, start=0, end=None, newest_allowed=None):
        """Count the complete lines in data[start:end]; the Alerts they raise (see LineParser.scan),
        then the Ended episodes.

        A line whose time cannot be read counts at the newest log time; before
        any, at default_time (live: the clock) without moving the window's
        clock, or, with default_time None (replay), not at all. An episode
        ends by the log time of any line (a quiet client on a busy site ends
        at once): the time the span ends at (LineParser.recent_time), which one
        line cannot move, or live, of a span of one line, that line's; never past
        newest_allowed (the same bound as a request's) nor default_time (the
        clock: no line can claim a time that has not come).
        """
        parser = self.parser
        found = self.count(parser.scan(data, default_time, start, end, newest_allowed), default_time)
        seen = None
        if self.ends:  # an episode to end: the time the span ends at, which one line cannot move
            seen = parser.recent_time(data, start, len(data) if end is None else end)
        if seen is None and default_time is not None:  # live, a line or two: as far as the clock
            seen = parser.last_line_time
        for bound in (newest_allowed, default_time):
            if seen is not None and bound is not None:
                seen = min(seen, int(bound))
        # this read's own time, not the newest ever seen: lines ahead at one read's end (a clock
        # step, a badly merged file) must not end the episodes of every later read
        now = max(self.window.newest_log_time or 0, seen or 0)
        if self.ends and self.ends[0][0] <= now:  # an episode may have ended
            found += self.ended(now)
        return found

    def count(self, found, default_time):
        """Count the parser's (client, second, status, note, n) runs of equal requests; the Alerts,
        and the Ended episode of a client whose request came a whole window after its last.

        A run counts as its n requests one by one would; the ones that cannot
        alert are counted in bulk (SlidingWindow.add_repeats). With
        cleanup_seconds set (replay), the window is cleaned up whenever log
        time passes that many seconds: at the same requests however the input
        was cut into chunks.
        """
        window, tally, alerts, episodes = self.window, self.tally, [], self.episodes
        add, clients, tally_add, totals_add = window.add, window.clients, None, None
        if tally is not None:
            tally_add, totals_add = tally.add, tally.totals.add
        every = self.cleanup_seconds
        next_cleanup = self.next_cleanup if every else 1 << 62
        for client, second, status, note, n in found:
            dated = second is not None
            if not dated:
                second = window.newest_log_time
                if second is None:
                    if default_time is None:
                        for _ in range(n):
                            self.parser.skip_undated()
                        continue
                    second = int(default_time)
            if totals_add:
                totals_add(second, status, n)
            episode = episodes.get(client) if episodes else None
            if episode is not None and second >= episode[1] + window.window:  # it ended before this
                alerts.append(Ended(client, *episodes.pop(client)))
                episode = None
            after = n  # requests of the run that belong to an episode: all, or those after its alert
            while n:
                if second >= next_cleanup:
                    window.cleanup()
                    next_cleanup = self.next_cleanup = second + every
                alert = add(client, second, dated, note)
                n -= 1
                if alert is not None:
                    alerts.append(self._evidence(alert))
                    if episode is None:  # opened with the window's requests, this one included
                        episode, after = episodes[client], n
                if tally_add:
                    tally_add(client, second, status, clients.get(client))
                if n and (tally is None or tally.takes_repeats(client)):
                    repeats = window.add_repeats(client, second, n, note)
                    if repeats:
                        n -= repeats
                        if tally is not None:
                            tally.add_repeats(client, second, status, clients[client], repeats)
            if episode is not None:  # an episode goes on: its last request, requests, peak, ranges
                episode[1] = max(episode[1], second)
                episode[2] += after
                episode[4] += after if status == b"206" else 0
                entry = clients.get(client)
                if entry.__class__ is Hits and entry.recent > episode[3]:
                    episode[3] = entry.recent
        self.alerts += sum(1 for alert in alerts if alert.__class__ is Alert)
        return alerts

    def _evidence(self, alert):
        """The alert with what its notes tell (statuses, distinct, hosts) and repeat; it opens an
        episode, or goes on with its client's."""
        notes = [note for note in alert.notes or () if note]  # 0: a first request no longer noted
        statuses, hosts = {}, set()
        for note in notes:
            code = note >> 26 & 0x3FF
            status = "%03d" % code if code else "-"
            statuses[status] = statuses.get(status, 0) + 1
            if note >> 16 & 0x3FF:
                hosts.add(self.parser.host_name(note >> 16 & 0x3FF))
        t, day = alert.time, 86400
        times = [s for s in self.history.pop(alert.client, ()) if s > t - day] + [t]
        if len(self.history) >= self.most_episodes:
            self.history.popitem(last=False)  # the client that alerted longest ago
        self.history[alert.client] = times
        alert = Alert(  # not _replace(): an alert flood makes many
            alert.client,
            alert.count,
            t,
            alert.file,
            alert.first_time,
            None,  # the notes, told now: a replay keeps its alerts
            tuple(sorted(statuses.items(), key=lambda item: -item[1])),
            len({note & 0xFFFF for note in notes}),
            tuple(sorted(hosts)),
            len(times),
        )
        ranges = sum(n for code, n in alert.statuses if code == "206")
        if is_range_alert(alert):
            self.range_alerts += 1
        episode = self.episodes.get(alert.client)
        if episode is None:
            if len(self.episodes) >= self.most_episodes:  # an alert flood: the oldest goes, counted
                self.episodes.popitem(last=False)
                self.episodes_forgotten += 1
            self.episodes[alert.client] = [alert.first_time, alert.time, alert.count, alert.count, ranges, 1]
            heapq.heappush(self.ends, (alert.time + self.window.window, alert.client))
            if len(self.ends) > 2 * self.most_episodes:  # the entries of episodes let go: made anew
                due = self.window.window
                self.ends = [(episode[1] + due, client) for client, episode in self.episodes.items()]
                heapq.heapify(self.ends)
        else:
            episode[3], episode[5] = max(episode[3], alert.count), episode[5] + 1
        return alert

    def memory(self, most=2000, times=16):
        """What a restart keeps (the state file): the newest most open episodes, [client, *episode],
        and the last times alerts of the most clients that alerted last, [client, *seconds]."""
        newest = lambda table: list(itertools.islice(reversed(table.items()), most))[::-1]  # noqa: E731
        return {
            "episodes": [[client, *episode] for client, episode in newest(self.episodes)],
            "alerts": [[client, *seconds[-times:]] for client, seconds in newest(self.history)],
            "about": [self.parser.needle.decode("utf-8"), self.window.window],  # what they count
        }

    def recall(self, memory):
        """Take up memory (see memory()): the episodes go on, and end with their ENDED lines; not
        when they counted another target, or in another window."""
        if memory.get("about") != [self.parser.needle.decode("utf-8"), self.window.window]:
            return
        for client, *episode in memory.get("episodes", ()):
            self.episodes[client] = episode
        for client, *seconds in memory.get("alerts", ()):
            self.history[client] = seconds
        self.ends = [(episode[1] + self.window.window, client) for client, episode in self.episodes.items()]
        heapq.heapify(self.ends)

    def ended(self, now, force=False):
        """[Ended] of the episodes whose last request is a whole window before log second now (all,
        with force). Only the episodes due are looked at (a heap of when each may end, pushed
        again when it went on)."""
        if force:
            done, self.ends = list(self.episodes), []
            return [Ended(client, *self.episodes.pop(client)) for client in done]
        ends, episodes, found = self.ends, self.episodes, []
        while ends and ends[0][0] <= now:
            _, client = heapq.heappop(ends)
            episode = episodes.get(client)
            if episode is None:
                continue  # forgotten, or ended already
            if episode[1] + self.window.window <= now:
                found.append(Ended(client, *episodes.pop(client)))
            else:
                heapq.heappush(ends, (episode[1] + self.window.window, client))
        return found


def not_counted(detector, utc=False):
    """[(reason, count, example)] of the matching lines that did not count, most first."""
    parser, window = detector.parser, detector.window
    why = collections.Counter(parser.skipped_why)
    examples = dict(parser.examples)
    if window.late:
        why["late (a day older than the newest)"] = window.late
        key, t, behind = window.late_example
        examples["late (a day older than the newest)"] = "%s at %s, %s before the newest" % (
            key,
            iso_time(t, utc),
            duration_text(behind),
        )
    return [(reason, n, examples.get(reason, "")) for reason, n in why.most_common() if n]


# ---------------------------------------------------------------- alert text


def alert_message(client, target, count, window_seconds):
    """The alert text; client is a validated address (or IPv6 prefix), never raw log text."""
    return "SUSPICIOUS ACTIVITY: IP %s accessed %s %d times in %s" % (
        client,
        target,
        count,
        window_text(window_seconds),
    )


def alert_line(alert, target, window_seconds, utc=False):
    """The stdout line of an alert: '<log time, ISO 8601> <message>'."""
    return "%s %s" % (
        iso_time(alert.time, utc),
        alert_message(alert.client, target, alert.count, window_seconds),
    )


def ended_message(ended, target, window_seconds, utc=False):
    """The line that ends an episode: ENDED: IP 203.0.113.90 accessed today_download 12 times from
    <first request> to <last request> (peak 12 in 10 minutes)."""
    return "ENDED: IP %s accessed %s %d times from %s to %s (peak %d in %s)" % (
        ended.client,
        target,
        ended.requests,
        iso_time(ended.start, utc),
        iso_time(ended.end, utc),
        ended.peak,
        window_text(window_seconds),
    )


def evidence_fields(alert, utc=False):
    """The --json fields of an alert's evidence (see Alert): distinct_requests, first_time,
    statuses, repeat, and hosts when a syslog header named any."""
    if alert.statuses is None:
        return {}
    fields = {
        "distinct_requests": alert.distinct,
        "first_time": iso_time(alert.first_time, utc),
        "statuses": dict(alert.statuses),
        "repeat": alert.repeat,
    }
    if alert.hosts:
        fields["hosts"] = list(alert.hosts)
    return fields


def url_alert_line(event, utc=False):
    """The stdout line of a UrlEvent: '<probe time, ISO 8601, whole seconds> <message>', like alert_line."""
    return "%s %s" % (iso_time(int(event.time), utc), event.message)


# ---------------------------------------------------------------- reading files


class LineReader:
    """Reads a file in large chunks into one reused buffer; hands out runs of complete lines.

    read() returns (buffer, start, end, bytes read): buffer[start:end] is whole lines (maybe
    none). An incomplete last line is held back until its newline arrives; of one longer than
    max_line_bytes only the first max_line_bytes are handed out, as a line, and the rest of
    it is skipped: a line counts by its client, time and request however long a client made
    the rest, and a line that never ends (a run of NUL bytes) costs bounded memory. No
    per-line work, no copy of the chunk. spans() is the one loop that reads
    a file to its end this way; at the end it gives the buffer back (release()), so files
    only waited on (rotated files retiring) hold no buffer.
    """

    def __init__(self, chunk_bytes=READ_CHUNK_BYTES, max_line_bytes=MAX_LINE_BYTES):
        self.chunk_bytes, self.max_line_bytes = chunk_bytes, max_line_bytes
        self.buffer = self.view = None
        self.held = b""  # the incomplete line while the buffer is released
        self.rest = (0, 0)  # buffer[rest[0]:rest[1]] is the incomplete line held back
        self.skipping, self.bytes_read = False, 0  # bytes_read: all so far

    @property
    def pending(self):
        """Bytes read but not handed out (the held-back incomplete line)."""
        return len(self.held) if self.buffer is None else self.rest[1] - self.rest[0]

    def release(self):
        """Give the buffer back, keeping only the held-back line."""
        if self.buffer is not None:
            self.held = bytes(self.buffer[self.rest[0] : self.rest[1]])
            self.buffer = self.view = None

    def read(self, handle, limit=None):
        """Read once (at most limit bytes) from handle: (buffer, start, end, bytes read)."""
        if self.buffer is None:
            self.buffer = bytearray(self.chunk_bytes + self.max_line_bytes + 1)
            self.view = memoryview(self.buffer)
            self.buffer[: len(self.held)] = self.held
            self.rest, self.held = (0, len(self.held)), b""
        buf = self.buffer
        rest_start, rest_end = self.rest
        held = rest_end - rest_start
        if held and rest_start:
            buf[:held] = buf[rest_start:rest_end]
        size = self.chunk_bytes if limit is None else min(limit, self.chunk_bytes)
        count = handle.readinto(self.view[held : held + size]) or 0
        self.bytes_read += count
        total = held + count
        start = 0
        if self.skipping:
            newline = buf.find(b"\n", 0, total)
            if newline == -1:
                self.rest = (0, 0)
                return buf, 0, 0, count
            self.skipping = False
            start = newline + 1
        cut = buf.rfind(b"\n", start, total) + 1 or start
        self.rest = (cut, total)
        if total - cut > self.max_line_bytes:  # its head as a line; the rest is skipped
            cut += self.max_line_bytes
            buf[cut] = 0x0A  # a byte of the rest: overwritten, never read
            cut += 1
            self.rest = (0, 0)
            self.skipping = True
        return buf, start, cut, count

    def spans(self, handle, limit=None):
        """Yield (buffer, start, end) runs of complete lines until end of file (or limit bytes);
        each is valid until the next one is asked for."""
        left = limit
        while left is None or left > 0:
            buf, start, end, count = self.read(handle, left)
            if not count:
                self.release()
                return
            if left is not None:
                left -= count
            if end > start:
                yield buf, start, end

    def flush(self):
        """The held-back incomplete line as a complete line (bytes), when its writer is gone."""
        self.release()
        held, self.held, self.rest, self.skipping = self.held, b"", (0, 0), False
        return held + b"\n" if held else b""


def file_identity(path):
    """(st_dev, st_ino) of path, or None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def find_by_identity(path, identity):
    """The path of the file with (dev, inode) identity: path itself or a sibling it was renamed to."""
    if file_identity(path) == identity:
        return path
    directory = os.path.dirname(path) or "."
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) == identity and stat.S_ISREG(st.st_mode):
                    return entry.path
    except OSError:
        pass
    return None


def file_fingerprint(handle, offset, n=256):
    """A digest of an open file's first n bytes and of the n before offset. Touches disk."""
    import hashlib  # here: start-up of a replay or --help does not need it

    n = min(n, offset)
    return hashlib.sha256(bytes_before(handle, n, n) + b"|" + bytes_before(handle, offset, n)).hexdigest()[
        :32
    ]


def bytes_before(handle, offset, n=64):
    """The n bytes of an open file before offset (fewer near its start). Touches disk."""
    n = min(n, offset)
    return os.pread(handle.fileno(), n, offset - n) if n else b""


def open_regular(path):
    """(unbuffered binary file, its stat) of the regular file path; raises OSError. Never
    blocks: a FIFO at the path is refused, not waited on."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0), st
    except BaseException:
        os.close(fd)
        raise


class LogFile:
    """One open log file, read from an offset; knows its (device, inode). Touches disk.

    Public: open(path, at_end, offset, fingerprint), read(now), fingerprint(offset),
    last_line(), close(); path, identity, offset, done_offset, last_growth, reader (its
    LineReader).
    """

    def __init__(self, path, handle, identity, offset):
        self.path, self.handle, self.identity = path, handle, identity
        self.start_offset = offset  # where reading began
        self.reader = LineReader()
        self.last_growth = None  # clock time of the last read that returned data
        self.tail = b""  # the last bytes read, to see a truncated file regrown

    @classmethod
    def open(cls, path, at_end=False, offset=0, fingerprint=None):
        """Open the regular file path (open_regular) at offset, or at its end; raises OSError. A
        file shorter than offset, or that no longer matches fingerprint (saved at offset), was
        truncated or replaced meanwhile: it is read from its start."""
        handle, st = open_regular(path)
        log_file = cls(path, handle, (st.st_dev, st.st_ino), 0)
        offset = st.st_size if at_end else offset
        replaced = fingerprint is not None and offset and log_file.fingerprint(offset) != fingerprint
        if offset and (offset > st.st_size or replaced):
            log.warning(
                "%s changed since offset %d was read (truncated, or replaced); reading it from the start",
                path,
                offset,
            )
            offset = 0
        log_file.handle.seek(offset)
        log_file.start_offset = offset
        log_file.tail = bytes_before(log_file.handle, offset)
        return log_file

    @property
    def offset(self):
        """Bytes of the file read so far."""
        return self.start_offset + self.reader.bytes_read

    @property
    def done_offset(self):
        """Offset up to which every complete line has been handed out."""
        return self.offset - self.reader.pending

    def fingerprint(self, offset=None):
        """file_fingerprint() before offset (default: done_offset)."""
        return file_fingerprint(self.handle, self.done_offset if offset is None else offset)

    def read(self, now):
        """Yield (buffer, start, end) runs of complete lines appended since the last read, each
        valid until the next is asked for. A file that shrank (copytruncate), or no longer holds
        the bytes last read before the offset (truncated and regrown), is read from its start."""
        size = os.fstat(self.handle.fileno()).st_size
        if size < self.offset or (
            size > self.offset
            and self.tail
            and bytes_before(self.handle, self.offset, len(self.tail)) != self.tail
        ):
            log.warning("%s was truncated; reading it from the start", self.path)
            self.handle.seek(0)
            self.start_offset = 0
            self.reader = LineReader()
        before = self.reader.bytes_read
        for span in self.reader.spans(self.handle):
            self.last_growth = now
            # before handing the run out: a pass may stop after any run
            self.tail = bytes_before(self.handle, self.offset)
            yield span
        if self.reader.bytes_read != before:
            self.last_growth = now
            self.tail = bytes_before(self.handle, self.offset)

    def last_line(self):
        """The held-back partial line as a complete-line run (buffer, start, end), for a file
        whose writer is gone."""
        rest = self.reader.flush()
        return rest, 0, len(rest)

    def close(self):
        """Close the file."""
        self.handle.close()


class Retiring:
    """Files the followed name no longer points to (rotated away, replaced, yesterday's date),
    read until they have been idle rotated_idle seconds, so that lines a writer still
    appends to them count; and the last 64 files let go, so that none is ever read again
    from its start (a clock stepped back to yesterday's date). Touches disk.

    Public: add(log_file, now), read(now) yields runs of new complete lines (and
    closes the files gone idle), take(identity) -> a retiring LogFile or None,
    recall(identity, offset) -> (offset, fingerprint), files, reading, close().
    """

    def __init__(self, rotated_idle=ROTATED_FILE_IDLE):
        self.rotated_idle = rotated_idle
        self.files = []
        self.finished = collections.OrderedDict()  # identity -> (offset, fingerprint), let go
        self.reading = None  # path of the file the last run came from

    def add(self, log_file, now):
        """Read log_file until it is idle; it goes by its new name (access.log.1) if it has one."""
        log_file.last_growth = now
        log_file.path = find_by_identity(log_file.path, log_file.identity) or log_file.path
        self.files.append(log_file)

    def read(self, now):
        for old in list(self.files):
            self.reading = old.path
            yield from old.read(now)
            if abs(now - old.last_growth) >= self.rotated_idle:
                self.files.remove(old)
                try:
                    self.finished[old.identity] = (old.done_offset, old.fingerprint())
                except OSError:
                    pass
                while len(self.finished) > 64:
                    self.finished.popitem(last=False)
                old.close()
                yield old.last_line()

    def take(self, identity):
        """The retiring file of identity, no longer retiring, or None."""
        for old in self.files:
            if old.identity == identity:
                self.files.remove(old)
                return old
        return None

    def recall(self, identity, offset=0):
        """(offset, fingerprint) to open a file at: where it was let go, else (offset, None)."""
        return self.finished.pop(identity, (offset, None))

    def close(self):
        for log_file in self.files:
            log_file.handle.close()
        self.files = []


def open_problem(path, error):
    """(condition, message, level) that reports an OSError of opening the log file path."""
    if isinstance(error, FileNotFoundError):
        return ("missing", path), "Waiting for log file: %s" % path, logging.INFO
    if isinstance(error, PermissionError):
        return (
            ("denied", path),
            "Cannot read log file %s: permission denied; retrying" % path,
            logging.WARNING,
        )
    message = "Cannot read log file %s: %s; retrying" % (path, error.strerror)
    return ("error", path, error.errno), message, logging.WARNING


# Where access logs usually are (Debian and Ubuntu, RHEL, nginx): named in the hint that follows a
# first "Waiting for log file" when they exist.
USUAL_ACCESS_LOGS = ("/var/log/apache2/access.log", "/var/log/httpd/access_log", "/var/log/nginx/access.log")


def nearby_logs(path, most=5):
    """The files a new user may have meant instead of the missing log path: the newest plain
    (not compressed) files in its directory, then the usual access logs that exist."""
    found = []
    with contextlib.suppress(OSError), os.scandir(os.path.dirname(path) or ".") as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file() and not entry.name.endswith((".gz", ".bz2", ".xz", ".zst", ".lock")):
                    found.append((-entry.stat().st_mtime, entry.path))
    nearby = [p for _, p in sorted(found)[:most]]
    return nearby + [p for p in USUAL_ACCESS_LOGS if p not in nearby and os.path.isfile(p)]


def log_hint(path):
    """Lines that follow the first "Waiting for log file: path": the logs that do exist nearby,
    each with the flag that would follow it."""
    nearby = nearby_logs(path)
    if not nearby:
        return [
            "Hint: no access log in %s, nor at %s. Give yours with --log-file PATH, or set LOG_DIR, "
            "LOG_PREFIX and LOG_DATE_FORMAT (--config, README: Configuration)"
            % (os.path.dirname(path) or ".", ", ".join(USUAL_ACCESS_LOGS))
        ]
    lines = ["Hint: %s does not exist. Logs that do exist nearby, and the flag that follows each:" % path]
    for found in nearby:
        lines.append("Hint:   --log-file %s" % shlex.quote(found))
    lines.append(
        "Hint: or set LOG_DIR, LOG_PREFIX and LOG_DATE_FORMAT to name the dated files (README: Configuration)"
    )
    return lines


class Follower:
    """Follows the file that path_for(now) names, like `tail -F`, across rotations. Public:
    poll(now) yields runs of new complete lines; reopen() (SIGHUP), adopt(log_file, now) (a
    file resumed from the state file), files(), close(); reading (the last run's file).

    The name is re-checked every poll: when it points to a new file (rename-and-create,
    delete-and-recreate, a new date) the old one goes to Retiring and the new one is read
    from its start. Only a file present at start is read from its end (unless from_start).
    """

    def __init__(self, path_for, from_start=False, rotated_idle=ROTATED_FILE_IDLE):
        self.path_for, self.from_start, self.retiring = path_for, from_start, Retiring(rotated_idle)
        self.current = self.reading = None  # the file followed; the path of the last run's file
        self.starting, self.reopen_requested = True, False
        self.reporter = Reporter()
        self.hinted = False  # a missing first file: log_hint() once
        self.last_name = None  # the name path_for gave at the last poll

    def poll(self, now):
        """Yield (buffer, start, end) runs of new complete lines of each file, retiring ones first."""
        path = self.path_for(now)
        reopen = self.reopen_requested  # cleared once acted upon: a pass may stop early
        if reopen:
            log.info("SIGHUP: checking the log's name and opening it again")
        missed, self.last_name = (
            self.last_name if self.last_name != path and self.current is None else None,
            path,
        )
        if missed is not None:  # the name before was never opened: did its file appear since we looked?
            self._open_late(missed, now)
        for run in self.retiring.read(now):
            self.reading = self.retiring.reading
            yield run
        current = self.current
        if current is not None:
            self.reading = current.path
            if current.path != path or file_identity(path) != current.identity:
                yield from current.read(now)  # rotated, replaced or a new date: retire it
                self.retiring.add(current, now)
                self.current = None
            elif reopen:  # SIGHUP on an unchanged file: open it again where we were
                yield from current.read(now)
                current.handle.close()
                self.current = None
                self._open(path, now, offset=current.done_offset)
        if self.current is None:
            self._open(path, now)
        self.reopen_requested = self.starting = False
        if self.current is not None:
            self.reading = self.current.path
            yield from self.current.read(now)

    def reopen(self):
        """Re-check the names and re-open the current file at the next poll (SIGHUP)."""
        self.reopen_requested = True

    def adopt(self, log_file, now):
        """Continue a file opened elsewhere (from the state file)."""
        if log_file.path == self.path_for(now) and self.current is None:
            self.current, log_file.last_growth = log_file, now
        else:
            self.retiring.add(log_file, now)
        self.starting = False

    def files(self):
        """The open files, retiring ones first."""
        return self.retiring.files + ([self.current] if self.current else [])

    def close(self):
        """Close every file."""
        self.retiring.close()
        if self.current:
            self.current.handle.close()
        self.current = None

    def _open_late(self, path, now):
        """Read the file of a name we left while it was missing, if it appeared since: rotatelogs
        makes the file of a period when that period's first line comes, which may be in the last
        moment of it, after our last look (the clock's next name is already another)."""
        identity = file_identity(path)
        if identity is None or any(f.identity == identity for f in self.retiring.files):
            return
        try:
            late = LogFile.open(path)
        except OSError:
            return
        log.info("Following %s from offset 0 (it appeared as its time ended)", path)
        self.retiring.add(late, now)

    def _open(self, path, now, offset=0):
        identity = file_identity(path)
        old = self.retiring.take(identity)
        if old is not None:  # followed already: take it back where it is
            self.current, old.path = old, path
            return
        offset, fingerprint = self.retiring.recall(identity, offset)
        try:
            self.current = LogFile.open(path, self.starting and not self.from_start, offset, fingerprint)
        except OSError as e:
            self.reporter.report("open", *open_problem(path, e))
            if isinstance(e, FileNotFoundError) and not self.hinted:
                for line in log_hint(path):
                    log.info("%s", line)
            self.hinted = True
            return
        self.current.last_growth, self.hinted = now, True
        self.reporter.report("open", None, None)
        log.info("Following %s from offset %d", path, self.current.offset)


class StreamReader:
    """Reads a stream (standard input: Apache piped logging, `tail -F | ...`, omprog) as it
    arrives, never blocking; the same poll(now) as Follower.

    Public: poll(now), files() (none), reopen() and close() (nothing to do),
    fd, eof (set once the writer closed the stream), reading.
    """

    def __init__(self, fd=0):
        self.fd, self.eof, self.reading = fd, False, "-"
        self.reader = LineReader()

    def readinto(self, view):
        """One read of what is there now (the LineReader's handle); 0 at end of stream."""
        return os.readv(self.fd, [view])

    def poll(self, now):
        """Yield runs of complete lines that arrived; at end of stream the last partial line."""
        while not self.eof and select.select([self.fd], [], [], 0)[0]:
            buf, start, end, count = self.reader.read(self)
            if not count:
                self.eof = True
                rest = self.reader.flush()
                yield rest, 0, len(rest)
            elif end > start:
                yield buf, start, end

    def files(self):
        return []

    def reopen(self):
        pass

    def close(self):
        pass


def dated_path(log_dir, prefix, date_format, utc):
    """A function now -> LOG_DIR/LOG_PREFIX + the date of now (local, or UTC)."""
    to_tuple = time.gmtime if utc else time.localtime

    def path_for(now):
        return os.path.join(log_dir, prefix + time.strftime(date_format, to_tuple(now)))

    return path_for


def follower_for(settings):
    """(what follows the log of settings: a Follower or a StreamReader, the text that names it
    in the state file: the path, or the dated series as DIR/PREFIX<DATE_FORMAT>)."""
    if settings.log_file == "-":
        return StreamReader(sys.stdin.fileno()), "standard input"
    if settings.log_file:
        spec = os.path.abspath(settings.log_file)
        path_for = lambda now: spec  # noqa: E731
    else:
        spec = os.path.join(
            os.path.abspath(settings.log_dir), settings.log_prefix + "<%s>" % settings.date_format
        )
        path_for = dated_path(settings.log_dir, settings.log_prefix, settings.date_format, settings.utc)
    return Follower(path_for, settings.from_start, settings.rotated_idle), spec


# ---------------------------------------------------------------- the state file

STATE_VERSION = 2  # of the state file's layout; a file of another version is ignored
STATE_MAX_BYTES = 1 << 20  # a real state file holds a few files' offsets: a larger one is refused unread


class StateFileError(Exception):
    """The state file cannot be used (another process holds its lock, or its lock cannot be
    made): the one line to say."""


class StateFile:
    """The read position kept across restarts: what is followed, each file's identity, offset
    and fingerprint, and the newest log time. Touches disk. Public: save(files,
    log_time), resume() -> (files opened at their offsets, log time) or None. One monitor a
    state file: see lock_state_file(). Saved atomically (a temporary
    file created exclusively beside it, never through a link; fsync; rename), only when it
    changed. A state that cannot be used at all (larger than STATE_MAX_BYTES, not ours, of
    another version) is one warning and a start without it; a file that changed while we
    were stopped (copytruncate, recreated on the same inode) is read from its start.
    """

    def __init__(self, path, follow_spec):
        self.path = path
        self.follow_spec = follow_spec
        self.saved = None
        self.reporter = Reporter()

    def save(self, files, log_time, memory=None):
        """Save the offsets of files (LogFiles), log_time and memory (Detector.memory()), if they
        changed since the last save."""
        try:
            entries = [
                {
                    "path": f.path,
                    "dev": f.identity[0],
                    "ino": f.identity[1],
                    "offset": f.done_offset,
                    "fingerprint": f.fingerprint(),
                }
                for f in files
            ]
            state = {"version": STATE_VERSION, "follow": self.follow_spec, "log_time": log_time}
            state["files"] = entries
            state.update(memory or {})
            if state == self.saved:
                return
            self._write(json.dumps(state).encode("utf-8"))
            self.saved = state
            self.reporter.report("state", None, None)
        except (OSError, ValueError) as e:
            self.reporter.report(
                "state", str(e), "Cannot write state file %s: %s" % (self.path, e), logging.ERROR
            )

    def _write(self, data):
        """Replace the state file with data: a new file beside it (O_EXCL: never a file or link
        that is there already), fsync'ed, renamed over the old one."""
        import tempfile

        directory, name = os.path.split(os.path.abspath(self.path))
        fd, temporary = tempfile.mkstemp(prefix="." + name + ".", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def resume(self):
        """Open the saved files at their offsets: (LogFiles, log time, memory), or None to start
        afresh."""
        try:
            state = read_state(self.path)
        except FileNotFoundError:
            log.warning("State file %s does not exist yet; starting without it", self.path)
            return None
        except (OSError, ValueError, UnicodeDecodeError) as e:
            log.warning("Ignoring state file %s: %s", self.path, e)
            return None
        if state.get("follow") != self.follow_spec:
            log.warning(
                "Ignoring state file %s: it is for %s, not %s",
                self.path,
                state.get("follow"),
                self.follow_spec,
            )
            return None
        opened = []
        for entry in state["files"]:
            found = find_by_identity(entry["path"], (entry["dev"], entry["ino"]))
            if found is None:  # e.g. a rotated file already deleted: nothing left to read
                log.warning("State file %s: %s is gone; skipping it", self.path, entry["path"])
                continue
            try:
                log_file = LogFile.open(found, offset=entry["offset"], fingerprint=entry.get("fingerprint"))
            except OSError as e:
                log.warning("State file %s: cannot open %s: %s; skipping it", self.path, found, e)
                continue
            if log_file.identity != (entry["dev"], entry["ino"]):  # replaced just now
                log_file.handle.close()
                continue
            opened.append(log_file)
        memory = {k: state[k] for k in ("episodes", "alerts", "about") if k in state}
        return opened, state.get("log_time"), memory


def read_state(path):
    """The state dict saved at path, checked; ValueError or OSError (FileNotFoundError if none).
    A file larger than STATE_MAX_BYTES, or no regular file, is refused before it is read."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        if st.st_size > STATE_MAX_BYTES:
            raise ValueError("%d bytes, larger than any state file: not read" % st.st_size)
        try:
            state = json.loads(f.read(STATE_MAX_BYTES + 1).decode("utf-8"))
        except RecursionError:
            raise ValueError("nested too deeply") from None

    def number(value):
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 63

    if not isinstance(state, dict) or not isinstance(state.get("files"), list):
        raise ValueError("not a log_monitor state file")
    for entry in state["files"]:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("path"), str)
            and all(number(entry.get(k)) for k in ("dev", "ino", "offset"))
            and isinstance(entry.get("fingerprint", ""), str)
        ):
            raise ValueError("not a log_monitor state file")
    if state.get("log_time") is not None and not (
        isinstance(state["log_time"], int) and abs(state["log_time"]) < 1 << 40
    ):
        raise ValueError("not a log_monitor state file")

    def client(value):  # an address or a prefix, as client_key() writes them
        try:
            return isinstance(value, str) and str(ipaddress.ip_network(value)) in (
                value,
                value + "/32",
                value + "/128",
            )
        except ValueError:
            return False

    for key, size in (("episodes", 7), ("alerts", None)):  # [client, log seconds...] each
        rows = state.get(key, [])
        if not isinstance(rows, list) or not all(
            isinstance(row, list)
            and len(row) == (size or len(row)) > 1
            and client(row[0])
            and all(number(n) and n < 1 << 40 for n in row[1:])
            and (size is None or row[1] <= row[2])  # an episode starts before it ends
            for row in rows
        ):
            raise ValueError("not a log_monitor state file")
    if state.get("version") not in (1, STATE_VERSION):  # 1: no fingerprints yet, read as it is
        raise ValueError(
            "a state file of version %r, which this log_monitor cannot read" % state.get("version")
        )
    return state


def lock_state_file(path):
    """Hold <path>.lock, with our pid in it, for the life of the process (the open fd returned):
    one monitor a state file. StateFileError if another process holds it (its one line names
    that process), or if it cannot be made (no such directory; a link planted there is refused)."""
    import fcntl

    try:
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise StateFileError("cannot use state file %s: %s" % (path, e.strerror)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        raise StateFileError(
            "state file %s is in use by %s: one monitor a state file"
            % (path, process_text(holder) if holder.isdigit() else "another process")
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    return fd


def process_text(pid):
    """'process PID (its command line)' for a pid given as text, as far as /proc tells."""
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            command = f.read(300).replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        command = ""
    return "process %s (%s)" % (pid, printable_text(command)) if command else "process %s" % pid


def offset_for_time(handle, size, t, block=65536):
    """An offset in an open log file at or a little before the first line logged at second t.

    Binary search on the CLF timestamps; good enough for lines minutes out of order.
    """
    lo, hi = 0, size
    while hi - lo > block:
        mid = (lo + hi) // 2
        handle.seek(mid)
        data = handle.read(block)
        stamp = first_time_in(data, data.find(b"\n") + 1)
        if stamp is None or stamp >= t:
            hi = mid
        else:
            lo = mid
    return lo


def read_before(log_file, since_log_time):
    """Yield runs of the complete lines of log_file from about since_log_time up to its offset;
    the file position is left where it was. Touches disk."""
    handle, end = log_file.handle, log_file.offset
    start = offset_for_time(handle, end, since_log_time)
    handle.seek(start)
    if start:
        handle.readline()  # start at a line boundary
    yield from LineReader().spans(handle, limit=end - handle.tell())
    handle.seek(end)


def learn_before(parser, log_file, most=65536):
    """Let parser learn the log's layout (LineParser.learn_span) from the lines of log_file in the
    most bytes before its offset, which a start at the end does not read: a client alone in the
    first lines read cannot go uncounted (client unclear) for want of them. The file position is
    left where it was. Touches disk."""
    handle, end = log_file.handle, log_file.offset
    start = max(0, end - most)
    handle.seek(start)
    data = handle.read(end - start)
    handle.seek(end)
    first = data.find(b"\n") + 1 if start else 0  # a whole line first
    parser.learn_span(data, first, data.rfind(b"\n") + 1)


def rebuild_window(settings, detector, log_file, log_time, stopped):
    """Count the last two windows of log before log_file's offset again into detector's window,
    with their alerts dropped and outside the live statistics: a burst split by a restart still
    alerts, and an alert sent before the stop is not sent again. The episodes and the day's
    alerts are the state file's (Detector.recall), not what this finds: it may find alerts
    that were never sent (lines before the first start), and episodes that ended."""
    window = detector.window
    rebuild = Detector(Detector.from_settings(settings).parser, window)
    rebuild.parser.layouts = detector.parser.layouts  # what these lines show of the layout is kept
    for buf, start, end in read_before(log_file, log_time - window.horizon_seconds):
        rebuild.feed(buf, log_time, start, end)  # alerts already sent: dropped
        if stopped():  # SIGTERM during a long rebuild
            break


# ---------------------------------------------------------------- sending alerts

FACILITIES = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "security": 4,
    **{"local%d" % n: 16 + n for n in range(8)},
}

LEVELS = {
    "emerg": 0,
    "panic": 0,
    "alert": 1,
    "crit": 2,
    "err": 3,
    "error": 3,
    "warning": 4,
    "warn": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}


def syslog_priority(text):
    """Numeric syslog priority of "facility.level" (user.error -> 11); ValueError if unknown."""
    facility, _, level = text.partition(".")
    if facility not in FACILITIES or level not in LEVELS:
        raise ValueError("unknown syslog facility.level %r (e.g. user.error, local0.warning)" % text)
    return FACILITIES[facility] * 8 + LEVELS[level]


def socket_ready(path):
    """True when path is a Unix socket (logger drops messages silently otherwise)."""
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


class Child:
    """A process started by run_command(): pid, kill()."""

    def __init__(self, pid):
        self.pid = pid

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_command(argv, timeout, running):
    """Run argv (a list: no shell; a name is looked up in PATH) for at most timeout seconds; None
    if it exited 0, else why not. A process.

    While it runs, the process (a Child) is in the list running, so that a stop can kill it.
    It starts with no signal blocked, whatever the calling thread blocks, and SIGPIPE at its
    default (posix_spawn); its stdin and stdout are /dev/null; its stderr comes through a
    pipe, read without waiting once it exited: a child it left behind may hold the pipe open.
    """
    read_end, write_end = os.pipe()
    try:
        pid = os.posix_spawnp(
            argv[0],
            argv,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_DUP2, write_end, 2),
            ],
            setsigmask=(),
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # as subprocess restores them
        )
    except OSError as e:
        os.close(read_end)
        return e.strerror or str(e)
    finally:
        os.close(write_end)
    child = Child(pid)
    running.append(child)
    try:
        status = wait_for_exit(pid, timeout)
        if status is None:
            child.kill()
            os.waitpid(pid, 0)
            return "no answer within %g s" % timeout
        if status == 0:
            return None
        os.set_blocking(read_end, False)
        try:
            detail = os.read(read_end, 4096).decode("utf-8", "replace")
        except BlockingIOError:
            detail = ""
    finally:
        running.remove(child)
        os.close(read_end)
    detail = detail.strip().splitlines()
    return "exit status %d%s" % (status, (": " + printable(detail[0].encode())) if detail else "")


def wait_for_exit(pid, timeout):
    """The exit status of child pid (-N when signal N ended it) once it exits, or None
    after timeout seconds. Polls, as subprocess does, in steps that grow to 50 ms."""
    deadline, step = time.monotonic() + timeout, 0.0005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(step, max(0.0, deadline - time.monotonic())))
        step = min(step * 2, 0.05)


class SyslogSender:
    """Sends one message to syslog with `logger`; falls back when logger is missing or fails.

    Runs `logger -p FACILITY -t TAG [--socket PATH] -- MESSAGE`: an argument
    list, no shell, with a timeout, no temporary file. On failure it prints
    "Error calling 'logger': ..." once per condition and delivers the message
    itself as an RFC 3164 datagram to the socket, sent without waiting. A
    logger that hung is given up once and not run again for retry_seconds.
    Public: send(message, now) -> True if delivered; command(message).
    """

    retry_seconds = 60  # after a hung logger, the fallback alone for this long

    def __init__(
        self, facility=SYSLOG_FACILITY, tag=SYSLOG_TAG, socket_path=SYSLOG_SOCKET, timeout=LOGGER_TIMEOUT
    ):
        self.facility, self.tag, self.socket_path, self.timeout = facility, tag, socket_path, timeout
        self.priority = syslog_priority(facility)
        self.reporter = Reporter()
        self.hung_at = None  # clock time logger last hung
        self.running = []  # the logger process running now (for a kill at exit)
        self.closed = False

    def command(self, message):
        """The logger argument list for message."""
        argv = ["logger", "-p", self.facility, "-t", self.tag]
        if self.socket_path:
            argv += ["--socket", self.socket_path]
        return argv + ["--", message]

    def send(self, message, now=None):
        """Deliver message to syslog; True if some way worked. Runs a process, touches a socket."""
        if self.closed:
            return False
        now = time.time() if now is None else now
        target = self.socket_path or DEFAULT_SYSLOG_SOCKET
        if not socket_ready(target):
            self.reporter.report(
                "socket",
                "missing",
                "Syslog socket %s does not exist: alerts are on stdout, and wait for it (the status "
                "line counts them)" % target,
                logging.ERROR,
            )
            return False
        self.reporter.report("socket", None, "Syslog socket %s is back" % target, logging.INFO)
        if self.hung_at is None or abs(now - self.hung_at) >= self.retry_seconds:
            reason = run_command(self.command(message), self.timeout, self.running)
            if reason is None:
                self.hung_at = None
                self.reporter.report("logger", None, "logger works again", logging.INFO)
                return True
            if reason.startswith("no answer"):
                self.hung_at = now
            self.reporter.report("logger", reason, "Error calling 'logger': %s" % reason, logging.ERROR)
        try:
            self._fallback(message, target)
        except OSError as e:
            self.reporter.report("fallback", str(e), "Syslog fallback failed too: %s" % e, logging.ERROR)
            return False
        self.reporter.report("fallback", None, None)
        return True

    def _fallback(self, message, target):
        stamp = time.localtime()
        header = "<%d>%s %2d %s %s: " % (
            self.priority,
            MONTH_NAMES[stamp.tm_mon - 1],
            stamp.tm_mday,
            time.strftime("%H:%M:%S", stamp),
            self.tag,
        )
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            # never wait on a full socket (a blocking send to it spins or hangs): retried later
            s.sendto((header + message).encode("utf-8"), socket.MSG_DONTWAIT, target)


class BackgroundQueue(threading.Thread):
    """A bounded queue worked off in order by one thread of its own, so that a slow receiver
    (syslog, a stdout nobody reads, a hook) never holds up the log. The one home of the
    queue, its bound and its stop; a subclass says what work() does with the items.

    Public: put(item) never blocks (over max_items the item is dropped, counted and reported
    once per spell); close(timeout) -> items left; pending, dropped; running (processes of
    the work, killed at close). With retry_seconds set, work() may leave items to be tried
    again that much later, and each gets one last try at the stop.
    """

    full_message = "More than %d items wait: dropping new ones"
    full_level = logging.WARNING
    retry_seconds = None

    def __init__(self, name, max_items, running=None):
        super().__init__(name=name, daemon=True)
        self.max_items = max_items
        self.items = collections.deque()
        self.dropped = 0
        self.running = [] if running is None else running
        self.reporter = Reporter()
        self.wake = threading.Event()
        self.stopping = False

    @property
    def pending(self):
        """Items not worked off yet."""
        return len(self.items)

    def put(self, item):
        """Queue one item; never blocks."""
        if len(self.items) >= self.max_items:
            self.dropped += 1
            self.reporter.report("full", True, self.full_message % self.max_items, self.full_level)
            return
        self.items.append(item)
        self.wake.set()

    def run(self):
        worker_thread_signals()
        while True:
            self.wake.wait(self.retry_seconds if self.items else None)
            self.wake.clear()
            stopping = self.stopping
            self.work(stopping)
            if stopping and (self.retry_seconds or not self.items):
                return

    def work(self, stopping):
        """Work off the queued items (in the thread); stopping: the last round."""
        raise NotImplementedError

    def close(self, timeout):
        """Work off what is queued within timeout seconds, then stop; a process still running is
        killed. Returns how many items are left."""
        self.stopping = True
        self.wake.set()
        self.join(timeout)
        self.finish()
        return len(self.items)

    def finish(self):
        for child in list(self.running):
            child.kill()  # a hung logger or hook must not outlive us


class Courier(BackgroundQueue):
    """Delivers syslog messages in the background, in order (a BackgroundQueue of [message, log
    time, failed before]). A message that cannot be delivered now (socket missing or full,
    logger and fallback failing) is kept and retried every retry_seconds; once delivered late
    it carries its original time. At close, each waiting message gets one more try.
    Public: put(message, log_time), and BackgroundQueue's."""

    full_message = "More than %d alerts wait for syslog: dropping new ones"

    def __init__(self, sender, utc=False, retry_seconds=0.5, max_pending=10000, clock=time.time):
        super().__init__("syslog courier", max_pending, running=sender.running)
        self.sender, self.utc, self.clock, self.retry_seconds = sender, utc, clock, retry_seconds

    def put(self, message, log_time):
        """Queue one message; never blocks."""
        super().put([message, log_time, False])

    def work(self, stopping):
        items = self.items
        for _ in range(len(items)):
            if self._deliver(items[0]):
                items.popleft()
            elif stopping:
                items.rotate(-1)  # the last try for each: keep going
            else:
                break  # keep the order; retry later

    def _deliver(self, entry):
        message = entry[0]
        if entry[2]:
            message += " (alert of %s, delivered late)" % iso_time(entry[1], self.utc)
        try:
            delivered = self.sender.send(message, self.clock())
        except Exception as e:  # one failing alert must not stop the others
            log.error("Error delivering an alert to syslog (will retry): %r", e)
            delivered = False
        entry[2] = entry[2] or not delivered
        return delivered

    def finish(self):
        self.sender.closed = True  # no new logger from here on
        super().finish()


class StdoutWriter(BackgroundQueue):
    """Writes lines to stdout in the background (a BackgroundQueue of lines): a stdout nobody
    reads never blocks the monitor. Public: write(line), and BackgroundQueue's."""

    full_message = "stdout is not being read: alert lines are dropped (syslog delivery goes on)"
    full_level = logging.ERROR

    def __init__(self, fd=1, max_lines=100000):
        super().__init__("stdout writer", max_lines)
        self.fd = fd
        self.write = self.put

    def work(self, stopping):
        while self.items:
            batch = [self.items.popleft() for _ in range(len(self.items))]  # one write for all
            data = ("\n".join(batch) + "\n").encode("utf-8", "replace")
            try:
                while data:
                    data = data[os.write(self.fd, data) :]
            except OSError:
                pass  # a closed stdout is not a reason to stop
            self.reporter.report("full", None, None)


HOOK_FIELDS = (
    "{ip}",
    "{count}",
    "{target}",
    "{window}",
    "{time}",
    "{message}",
    "{distinct}",
    "{first}",
    "{repeat}",
)


class Hooks(BackgroundQueue):
    """Runs the --on-alert commands after each alert, in the background (a BackgroundQueue of
    alert fields), so a slow one never holds up the log. Threads, processes.

    Public: put(fields), and BackgroundQueue's. Each command is split once
    like a shell splits it (shlex), then run for each alert as an argument
    list, never through a shell, with {ip} {count} {target} {window} {time}
    {message} replaced inside its arguments (only these: other braces stay),
    for at most timeout seconds. A failure is reported once per command and
    condition, and again when it works again. At most max_pending alerts wait.
    """

    full_message = "More than %d alerts wait for --on-alert: dropping"

    def __init__(self, commands, timeout, max_pending=1000):
        super().__init__("alert hooks", max_pending)
        self.commands = [shlex.split(command) for command in commands]
        self.timeout = timeout

    def work(self, stopping):
        while self.items:
            fields = self.items.popleft()
            for n, argv in enumerate(self.commands):
                argv = [_fill(arg, fields) for arg in argv]
                reason = run_command(argv, self.timeout, self.running)
                if reason:
                    self.reporter.report(n, reason, "--on-alert %s: %s" % (argv[0], reason), logging.ERROR)
                else:
                    self.reporter.report(n, None, "--on-alert %s works again" % argv[0], logging.INFO)


def _fill(arg, fields):
    for name in HOOK_FIELDS:
        if name in arg:
            arg = arg.replace(name, fields.get(name, ""))
    return arg


def print_line(text):
    """Print one line on stdout now; a closed stdout is not a reason to stop."""
    try:
        print(text, flush=True)
    except (OSError, ValueError):
        pass


class Alerting:
    """Turns an Alert (or a UrlEvent) into its stdout line, its syslog message and its hook
    fields, and hands them on.

    Public: send(alert), send_event(url_event). out prints one line (never
    blocking, in the daemon), as text or, with as_json, one JSON object;
    courier, if any, takes the syslog message (None: a dry run or a replay);
    hooks, if any, run the --on-alert commands. The stdout line comes first,
    whatever syslog does. An alert whose log time is more than stale_after
    seconds behind clock() is printed with its age and neither sent to syslog
    nor to the hooks: an old burst read late is no reason to page now.
    """

    def __init__(
        self,
        target,
        window_seconds,
        utc=False,
        courier=None,
        out=print_line,
        stale_after=None,
        clock=time.time,
        hooks=None,
        as_json=False,
    ):
        self.target, self.window, self.utc = target, window_seconds, utc
        self.courier, self.out, self.hooks, self.as_json = courier, out, hooks, as_json
        self.stale_after, self.clock = stale_after, clock

    def send(self, alert):
        """Deliver one Alert: the stdout line now, syslog and hooks in the background. An Ended
        episode is a stdout line only."""
        if alert.__class__ is Ended:
            return self.send_ended(alert)
        message = alert_message(alert.client, self.target, alert.count, self.window)
        age = None if self.stale_after is None else self.clock() - alert.time
        stale = age is not None and age > self.stale_after
        if self.as_json:
            fields = {"time": iso_time(alert.time, self.utc), "client": alert.client, "target": self.target}
            fields.update(count=alert.count, window=self.window, file=alert.file, message=message)
            fields.update(evidence_fields(alert, self.utc))
            if stale:
                fields.update(stale=True, age=int(age))
            self.out(json.dumps(fields, sort_keys=True))
        elif stale:
            line = alert_line(alert, self.target, self.window, self.utc)
            self.out("%s (logged %s ago: not sent to syslog)" % (line, duration_text(age)))
        else:
            self.out(alert_line(alert, self.target, self.window, self.utc))
        if stale:
            return
        if self.courier is not None:
            self.courier.put(message, alert.time)
        if self.hooks is not None:
            self.hooks.put(
                {
                    "{ip}": alert.client,
                    "{count}": str(alert.count),
                    "{target}": self.target,
                    "{window}": str(self.window),
                    "{time}": iso_time(alert.time, self.utc),
                    "{message}": message,
                    "{distinct}": str(alert.distinct or 0),
                    "{first}": iso_time(
                        alert.first_time if alert.first_time is not None else alert.time, self.utc
                    ),
                    "{repeat}": str(alert.repeat or 1),
                }
            )

    def send_ended(self, ended):
        """The line of an Ended episode (or its JSON object) on stdout; never syslog nor hooks."""
        if self.as_json:
            fields = {"event": "ended", "client": ended.client, "target": self.target, "window": self.window}
            fields.update(start=iso_time(ended.start, self.utc), end=iso_time(ended.end, self.utc))
            fields.update(requests=ended.requests, peak=ended.peak, ranges=ended.ranges, alerts=ended.alerts)
            fields.update(file=ended.file, message=ended_message(ended, self.target, self.window, self.utc))
            self.out(json.dumps(fields, sort_keys=True))
        else:
            self.out(ended_message(ended, self.target, self.window, self.utc))

    def send_event(self, event):
        """Deliver one UrlEvent (time, message) the same way: stdout, syslog, hooks."""
        if self.as_json:
            self.out(json.dumps({"time": iso_time(int(event.time), self.utc), "message": event.message}))
        else:
            self.out(url_alert_line(event, self.utc))
        if self.courier is not None:
            self.courier.put(event.message, event.time)
        if self.hooks is not None:
            url = event.message.split(" ")[2]
            self.hooks.put(
                {"{target}": url, "{time}": iso_time(int(event.time), self.utc), "{message}": event.message}
            )


# ---------------------------------------------------------------- the daemon loop


def report_news(reporter, detector, utc=False):
    """Say once on stderr what first happened: a reason lines did not count (with an example),
    times ahead of the clock, a log that looks proxied, a download manager's alert."""
    parser = detector.parser
    for reason, _, example in not_counted(detector, utc):
        reporter.report(
            ("not counted", reason),
            True,
            "Not counted: matching lines with %s, e.g. %r; the status line (SIGUSR1) counts them"
            % (reason, example),
        )
    if parser.ahead:
        reporter.report(
            "ahead",
            True,
            "Log times up to %s ahead of the clock (a skewed "
            "clock?): such lines count at the clock time" % duration_text(parser.ahead_seconds),
        )
    hint = parser.proxied_hint()
    if hint:
        reporter.report("proxied", True, hint)
    if parser.lines_cut:
        reporter.report("cut", True, cut_hint(parser))
    if detector.range_alerts and not parser.ranges_window:
        reporter.report(
            "ranges",
            True,
            "An alert came mostly from 206 answers (byte ranges) for at most 3 distinct requests: a "
            "download manager's segments, it seems. --ranges-once would count each download once",
        )


def cut_hint(parser):
    """What lines longer than MAX_LINE_BYTES mean (LineParser.lines_cut), or None."""
    if not parser.lines_cut:
        return None
    return (
        "%s cut at MAX_LINE_BYTES (%d) as read, the rest never read. Where the client writes the "
        "start of a line (X-Forwarded-For first, AWS's layout), a request may lie in that rest, "
        "uncounted: raise MAX_LINE_BYTES above your server's header limit"
        % (_plural(parser.lines_cut, "line"), parser.max_line_bytes)
    )


def unread_bytes(files):
    """Bytes written to the open log files and not read yet."""
    unread = 0
    for log_file in files:
        with contextlib.suppress(OSError, ValueError):
            unread += max(0, os.fstat(log_file.handle.fileno()).st_size - log_file.offset)
    return unread


def status_line(detector, files, now, idle_since, utc=False):
    """One line: files and offsets, counts, and where reading stands: "idle Ns" (nothing unread,
    the last new line N seconds ago by the clock), or "behind" (how many bytes are unread, and
    how far the newest log time read is behind now)."""
    parser, window = detector.parser, detector.window
    names = ", ".join("%s @ %d" % (f.path, f.offset) for f in files) or "none"
    newest = max((t for t in (parser.last_line_time, window.newest_log_time) if t is not None), default=None)
    reasons = not_counted(detector, utc)
    skipped = "%d" % sum(n for reason, n, _ in reasons if not reason.startswith("late"))
    if reasons:
        skipped += " (%s)" % ", ".join("%s %d" % (reason, n) for reason, n, _ in reasons)
    unread = unread_bytes(files)
    if unread:
        lag = "unknown" if newest is None else "%ds" % max(0, int(now) - newest)
        reading = "behind %d bytes unread, log time %s behind" % (unread, lag)
    else:
        reading = "idle %ds" % max(0, now - idle_since)
    if newest is not None and newest > now:
        reading += ", newest line %ds ahead of the clock" % (newest - int(now))
    return (
        "status: file %s; lines read %d, matching %d, tracked clients %d, alerts %d, "
        "late counted %d, late %d, ahead of the clock %d, skipped %s; %s"
        % (
            names,
            parser.lines_read,
            parser.matches,
            len(window.clients),
            detector.alerts,
            window.late_counted,
            window.late,
            parser.ahead,
            skipped,
            reading,
        )
    )


class Notifier:
    """systemd's notify protocol (sd_notify) with the standard library: one datagram of
    KEY=VALUE lines to $NOTIFY_SOCKET (a path, or "@name" for an abstract socket).

    Public: notify(*lines). A no-op when the variable is unset; never blocks,
    never raises (a vanished systemd is no reason to stop).
    """

    def __init__(self, address=None):
        address = os.environ.get("NOTIFY_SOCKET") if address is None else address
        if address and address.startswith("@"):
            address = "\0" + address[1:]
        self.address = address or None
        self.sock = None

    def notify(self, *lines):
        """Send the lines (READY=1, WATCHDOG=1, STATUS=..., STOPPING=1) as one datagram."""
        if self.address is None:
            return
        try:
            if self.sock is None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.sendto("\n".join(lines).encode("utf-8", "replace"), socket.MSG_DONTWAIT, self.address)
        except OSError:
            pass


class LiveLog:
    """The log followed live: its files (a Follower, or standard input), the Detector that counts
    their lines and the StateFile that keeps the read position.

    Public: read(now, deadline) yields the Alerts of new lines; behind (more was
    left to read at the deadline); resume(now, stopped), save(), files(),
    close(); detector, follower, state (None without --state-file).
    """

    def __init__(self, settings):
        self.settings = settings
        self.detector = Detector.from_settings(settings)
        self.follower, self.spec = follower_for(settings)  # spec: what is followed, as text
        self.state = None  # URLs only (watch_only): no log to follow, no position to keep
        if settings.state_file and not settings.watch_only:
            self.state = StateFile(settings.state_file, self.spec)
        self.behind = False
        self.last_cleanup = self.last_save = None
        self.last_line_at = None  # clock time of the last pass that read a line (or of the first)
        self.learnt = False  # whether the layout was learnt from the lines before the start

    def read(self, now, deadline):
        """Yield the Alerts of the lines written since the last read, until time.monotonic() passes
        deadline (then behind is set). A line stamped more than max_clock_ahead after now
        counts at now: one line from a skewed clock must not make every real request late."""
        newest_allowed = now + self.settings.max_clock_ahead
        self.behind = False
        if self.last_line_at is None:  # the first pass: idle since the start
            self.last_line_at = now
        if not self.learnt and self.follower.files():  # the files the first pass opened
            self.learnt = True
            for log_file in self.follower.files():
                if log_file.offset:
                    learn_before(self.detector.parser, log_file)
        for buf, start, end in self.follower.poll(now):
            self.last_line_at = now
            for alert in self.detector.feed(buf, now, start, end, newest_allowed):
                yield alert._replace(file=self.follower.reading)
            if time.monotonic() > deadline:
                self.behind = True
                return

    def files(self):
        return self.follower.files()

    def periodic(self, now):
        """The cleanup every cleanup_interval, the state save every state_save_interval (the
        first at once). Compares now with the last run with abs(): a clock stepped back must
        not stall them."""
        if self.last_cleanup is None:
            self.last_cleanup = now
        if abs(now - self.last_cleanup) >= self.settings.cleanup_interval:
            self.detector.window.cleanup()
            self.last_cleanup = now
        interval = self.settings.state_save_interval
        if self.state and (self.last_save is None or abs(now - self.last_save) >= interval):
            self.save()
            self.last_save = now

    def save(self):
        """Save the read position (see StateFile)."""
        self.state.save(self.follower.files(), self.detector.window.newest_log_time, self.detector.memory())

    def resume(self, now, stopped=lambda: False):
        """Continue from the state file: re-open files at their offsets, rebuild the windows
        (rebuild_window); True if the state was used. stopped() ends a long rebuild."""
        resumed = self.state.resume()
        if resumed is None:
            return False
        files, log_time, memory = resumed
        self.follower.starting = False  # a file not in the state appeared while we were down
        window = self.detector.window
        late = window.late, window.late_counted
        for log_file in files:
            if log_time is not None:
                rebuild_window(self.settings, self.detector, log_file, log_time, stopped)
            self.follower.adopt(log_file, now)
            log.info("Resuming %s at offset %d", log_file.path, log_file.offset)
        window.late, window.late_counted = late
        self.detector.recall(memory)
        return True

    def close(self):
        self.follower.close()


class Monitor:
    """The live daemon: poll_once(now) reads, counts and alerts, then runs periodic(now); run()
    is only the loop around them. Public: also resume, status_line; log (a LiveLog) and its
    detector, follower, state; stop_requested, status_requested (set by signal handlers);
    status_parts (callables whose text ends the status line). alert gets each Alert; clock
    and sleep are injected so tests run on simulated time."""

    pass_seconds = 0.5  # reading time of one pass before signals and periodic work

    def __init__(self, settings, alert, clock=time.time, sleep=time.sleep, watcher=None, url_alert=None):
        self.settings, self.alert, self.clock, self.sleep = settings, alert, clock, sleep
        self.watcher, self.url_alert = watcher, url_alert  # URL checks, if any
        self.log = LiveLog(settings)
        self.detector, self.follower, self.state = self.log.detector, self.log.follower, self.log.state
        self.stop_requested = self.status_requested = False
        self.stop_reason = None  # the signal's name
        self.status_parts = []
        self.notifier, self.reporter = Notifier(), Reporter()

    def poll_once(self, now):
        """One pass: read and count new lines, send their alerts, then the periodic work. A pass
        reads for at most pass_seconds; with more to read (a flood, a backlog) run() starts the
        next one at once: signals and the periodic work never wait for a backlog's end."""
        if not self.settings.watch_only:
            for alert in self.log.read(now, time.monotonic() + self.pass_seconds):
                self.alert(alert)
        report_news(self.reporter, self.detector, self.settings.utc)
        self.periodic(now)

    def periodic(self, now):
        """The results of URL checks that arrived, as alerts; LiveLog.periodic; the status line."""
        if self.watcher is not None:
            for event in self.watcher.poll(now):
                self.url_alert(event)
        self.log.periodic(now)
        if self.status_requested:
            self.status_requested = False
            log.info("%s", self.status_line(now))

    def run(self):
        """Poll every interval until stop_requested; one failing pass is reported, not fatal."""
        if self.watcher is not None:
            self.watcher.start()
        ready = "READY=1"
        while not self.stop_requested:
            now = self.clock()
            try:
                self.poll_once(now)
                self.reporter.report("pass", None, None)
            except Exception as e:  # one bad pass must not stop the monitor
                self.reporter.report("pass", repr(e), "Error in a pass (will retry): %r" % e, logging.ERROR)
                log.debug("traceback of the failed pass", exc_info=True)
            # systemd: ready after the first pass; WatchdogSec= restarts a monitor stuck in one
            self.notifier.notify(*filter(None, (ready, "WATCHDOG=1", "STATUS=" + self.status_line(now))))
            ready = None
            if getattr(self.follower, "eof", False):
                break  # standard input ended: every line is counted
            if not self.stop_requested:
                self.sleep(0 if self.log.behind else self.settings.interval)
        if self.status_requested:  # asked for right before the stop: still answered
            log.info("%s", self.status_line(self.clock()))
        self.notifier.notify("STOPPING=1")
        if self.state:
            self.log.save()
        self.log.close()
        if self.watcher is not None:
            self.watcher.stop()

    def resume(self, now):
        """LiveLog.resume, stopped by SIGTERM."""
        return self.log.resume(now, lambda: self.stop_requested)

    def status_line(self, now):
        """The status line (SIGUSR1) at clock time now."""
        idle_since = now if self.log.last_line_at is None else self.log.last_line_at
        parts = [status_line(self.detector, self.log.files(), now, idle_since, self.settings.utc)]
        if self.settings.watch_only:  # no log: only the URLs
            parts = ["status: " + self.watcher.status()]
        elif self.watcher is not None:
            parts.append(self.watcher.status())
        return "; ".join(parts + [part() for part in self.status_parts])


class Signals:
    """The daemon's signals: SIGTERM and SIGINT stop, SIGHUP re-opens the log, SIGUSR1 asks for the
    status line. Handlers only set flags; sleep() wakes up on a signal.

    Public: attach(monitor), sleep(seconds). Made first thing in main(), before the monitor
    exists: a signal that comes before attach() is kept and handed to the monitor then, so
    none of these signals is ever fatal or lost (they were blocked from the script's first
    line until here).
    """

    def __init__(self):
        self.monitor, self.early, self.streams = None, [], []
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        for signum in HANDLED_SIGNALS:
            signal.signal(signum, self._handle)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)

    def _handle(self, signum, frame):
        monitor = self.monitor
        if monitor is None:
            self.early.append(signum)
        elif signum == signal.SIGHUP:
            monitor.follower.reopen()
        elif signum == signal.SIGUSR1:
            monitor.status_requested = True
        else:
            monitor.stop_requested, monitor.stop_reason = True, signal.Signals(signum).name

    def attach(self, monitor):
        """Act on monitor from now on (its sleep is ours), and on what came before."""
        self.monitor, monitor.sleep = monitor, self.sleep
        self.streams = [monitor.follower.fd] if isinstance(monitor.follower, StreamReader) else []
        early, self.early = self.early, []
        for signum in early:
            self._handle(signum, None)

    def sleep(self, seconds):
        """Sleep up to seconds; a signal ends it early so the loop acts on its flag at once, and
        so do lines arriving on a stream being read (standard input)."""
        select.select([self.wake_r] + self.streams, [], [], seconds)
        try:
            os.read(self.wake_r, 512)
        except BlockingIOError:
            pass


# ---------------------------------------------------------------- watching URLs

# One alert about a watched URL.
UrlEvent = collections.namedtuple("UrlEvent", "time message")
UrlEvent.time.__doc__ = "epoch seconds when the probe that changed the state started"
UrlEvent.message.__doc__ = "the alert text: 'URL DOWN: ...' or 'URL RECOVERED: ...'"


class UrlState:
    """One URL's up/down state from its probe results. Pure: no I/O, no clock.

    update(ok, detail, now, seconds) -> the alert text on a change of state, else None
    status() -> the URL's part of the SIGUSR1 status line

    Down takes `failures` failed probes in a row, so one lost probe among
    successes pages nobody; up takes one success. A URL starts neither up nor
    down: a first success is silent, and a URL already down at start alerts
    once its failures add up. Each change alerts once, however many probes follow.
    """

    def __init__(self, url, failures):
        self.url = url
        self.failures = max(1, failures)
        self.down = False
        self.failed = 0  # failed probes in a row
        self.failing_since = None  # probe time (epoch seconds) of the first of them
        self.last = None  # (ok, detail, seconds) of the newest probe

    def update(self, ok, detail, now, seconds=None):
        """Take one probe result started at now (epoch seconds); the alert text or None.

        detail is the final status ('500') or short error words ('timeout after
        10 s'); seconds is the response time, for status() only.
        """
        self.last = (ok, detail, seconds)
        if ok:
            was_down, since = self.down, self.failing_since
            self.down, self.failed, self.failing_since = False, 0, None
            if was_down:
                # max(): a clock stepped back must not make a negative duration
                return "URL RECOVERED: %s after %s" % (self.url, duration_text(max(0, now - since)))
            return None
        self.failed += 1
        if self.failed == 1:
            self.failing_since = now
        if not self.down and self.failed >= self.failures:
            self.down = True
            return "URL DOWN: %s returned %s" % (self.url, detail)
        return None

    def status(self):
        """'url U up 200 12 ms', 'url U down (500) since <ISO time>', 'url U failing (500) 1 of 2',
        or 'url U not checked yet'."""
        if self.last is None:
            return "url %s not checked yet" % self.url
        ok, detail, seconds = self.last
        if ok:
            return "url %s up %s %d ms" % (self.url, detail, round((seconds or 0) * 1000))
        if self.down:
            return "url %s down (%s) since %s" % (self.url, detail, iso_time(int(self.failing_since)))
        return "url %s failing (%s) %d of %d" % (self.url, detail, self.failed, self.failures)


def http_url(text):
    """A URL to watch, checked (argparse type for --watch-url and WATCH_URLS): http or https,
    a host, a valid port; no spaces or control characters, no user:password (it would reach syslog)."""
    import urllib.parse  # here, not at the top: start-up time of everything else

    parts = urllib.parse.urlsplit(text)
    try:  # .port raises ValueError for a port that is no number or above 65535
        valid = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and (parts.port is None or parts.port > 0)
            and not any(c.isspace() or not c.isprintable() for c in text)
        )
    except ValueError:
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError("not an http:// or https:// URL: %r" % text)
    if "@" in parts.netloc:
        raise argparse.ArgumentTypeError("no user:password in a watched URL: alerts would show it")
    return text


class ProbeRefused(OSError):
    """A probe stopped by our own rule; its words are ours, never the server's."""


def url_opener():
    """A urllib opener for probes: verifies TLS certificates and host names with the system's
    CA store (ssl.create_default_context), honours *_proxy, and follows redirects only to
    http and https URLs, never reading a redirect's body (a site could send one without end).
    UrlWatcher builds one at its start and every probe shares it."""
    import ssl
    import urllib.parse
    import urllib.request  # 30 ms of imports that only URL watching needs

    class Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
                fp.close()
                raise ProbeRefused("redirected to a URL that is not http or https")
            fp.close()  # urllib would read the body whole before it follows: it reads nothing now
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ssl.create_default_context()), Redirects
    )


def probe_url(url, timeout, opener=None):
    """GET url once: (ok, detail, seconds). Touches the network.

    ok only for a final status of 200, after redirects; detail is that status
    ('200', '500') or short error words (see probe_error); seconds is the time
    to the status line. No body is read: the answer is closed at its headers,
    and nothing the server wrote but the status code reaches an alert.
    timeout bounds each connect and read; a name lookup can outlast it, which
    is why UrlWatcher stops waiting at the timeout itself. opener: url_opener()'s (None: a
    new one).
    """
    import http.client
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, headers={"User-Agent": "log_monitor/%s url-check" % __version__, "Cache-Control": "no-cache"}
    )  # ask the site, not a cache in front of it
    started = time.monotonic()
    try:
        with (opener or url_opener()).open(request, timeout=timeout) as answer:
            status = answer.status
    except urllib.error.HTTPError as e:  # urllib raises for every final status outside 2xx
        e.close()
        status = e.code
    except (OSError, http.client.HTTPException, ValueError) as e:
        return False, probe_error(e, timeout), time.monotonic() - started
    return status == 200, str(status), time.monotonic() - started


def probe_error(error, timeout):
    """Short words for a probe that got no status: 'timeout after 10 s', 'connection refused',
    'DNS failure: <resolver message>', 'TLS error: <reason>', 'bad answer (BadStatusLine)'.

    Only our own and the system's words: a malformed answer, or any error that
    could carry the server's text, is named by its kind, never quoted. At most 200
    printable characters.
    """
    import http.client
    import ssl
    import urllib.error

    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, (socket.timeout, TimeoutError)):  # socket.timeout is OSError on 3.9
        words = "timeout after %g s" % timeout
    elif isinstance(reason, socket.gaierror):
        words = "DNS failure: %s" % reason.strerror
    elif isinstance(reason, ssl.SSLCertVerificationError):
        words = "TLS error: certificate verify failed: %s" % reason.verify_message
    elif isinstance(reason, ssl.SSLError):
        words = "TLS error: %s" % (reason.reason or type(reason).__name__).lower().replace("_", " ")
    elif isinstance(reason, ProbeRefused):
        words = str(reason)
    elif isinstance(reason, ConnectionRefusedError):
        words = "connection refused"
    elif isinstance(reason, http.client.RemoteDisconnected):
        words = "connection closed without an answer"
    elif isinstance(reason, ConnectionResetError):
        words = "connection reset"
    elif isinstance(reason, (http.client.InvalidURL, ValueError)):
        words = "invalid URL"
    elif isinstance(reason, http.client.HTTPException):
        words = "bad answer (%s)" % type(reason).__name__
    elif isinstance(reason, OSError) and reason.errno:
        words = os.strerror(reason.errno).lower()  # the system's words for its number
    elif isinstance(reason, str):  # urllib's text, which may quote a server (an FTP error)
        words = "failed (the error's text may be the server's: not shown)"
    else:
        words = "error (%s)" % type(reason).__name__
    return "".join(c if c.isprintable() else "?" for c in words)[:200]


class UrlWatcher:
    """Probes URLs in background threads; the loop collects the results. Threads, network.

    start()      one daemon thread per URL: a probe every `every` seconds
    poll(now)    never blocks: the results that arrived, fed to each URL's UrlState;
                 a list of UrlEvents, one per change of state
    status()     '; '-joined UrlState.status() texts, for the SIGUSR1 status line
    stop()       sets a flag; the threads end within a second

    Each probe gets `timeout` seconds in all: one with no answer by then is
    'timeout after N s', even if it is stuck where urllib's timeout does not
    reach (a name lookup). A URL never has two probes at once: while a stuck
    one runs, each turn counts as another timeout, and the thread is left
    behind at exit (daemon). URLs are probed side by side, so slow ones do not
    add up. probe(url, timeout) -> (ok, detail, seconds) is injected for tests.
    Time enters only through poll(now): a result's time is now minus its age.
    """

    def __init__(self, urls, every, timeout, failures, probe=probe_url):
        self.urls = list(dict.fromkeys(urls))  # a URL given twice is watched once
        self.every, self.timeout, self.probe = every, timeout, probe
        self.states = {url: UrlState(url, failures) for url in self.urls}
        # (url, monotonic start, (ok, detail, seconds)); deque append/popleft are atomic,
        # and only the loop's thread pops, so no lock is needed
        self._results = collections.deque()
        self._stopping = threading.Event()
        self.threads = []

    def start(self):
        """Start one daemon thread per URL; the first probes begin at once."""
        if self.probe is probe_url:
            # the CA store is loaded here, not in a probe thread: OpenSSL's clean-up at exit
            # crashed the process (SIGSEGV) when a stop came while a thread was loading it
            self.probe = functools.partial(probe_url, opener=url_opener())
        for url in self.urls:
            thread = UrlTurns(url, self.every, self.timeout, self.probe, self._results, self._stopping)
            thread.start()
            self.threads.append(thread)

    def poll(self, now):
        """The UrlEvents of the results that arrived since the last poll; now is epoch seconds."""
        events = []
        while self._results:
            url, started, (ok, detail, seconds) = self._results.popleft()
            probe_time = now - (time.monotonic() - started)
            message = self.states[url].update(ok, detail, probe_time, seconds)
            if message is not None:
                events.append(UrlEvent(probe_time, message))
        return events

    def status(self):
        """Every URL's state, last status and response time as of the last poll()."""
        return "; ".join(self.states[url].status() for url in self.urls)

    def stop(self, wait=1.0):
        """Ask the threads to end and give them up to wait seconds; a hung probe is not waited for."""
        self._stopping.set()
        for thread in self.threads:
            thread.answers.put(None)  # wakes a URL thread waiting for its probe
        deadline = time.monotonic() + wait
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class UrlTurns(threading.Thread):
    """One URL's turns, in a daemon thread of its own: a probe every `every` seconds, each run
    in one more daemon thread and given `timeout` seconds; never two probes of the URL at
    once. Each result is appended to results as (url, monotonic start, (ok, detail,
    seconds)); the turns end when stopping is set."""

    def __init__(self, url, every, timeout, probe, results, stopping):
        super().__init__(name="watch " + url, daemon=True)
        self.url, self.every, self.timeout, self.probe = url, every, timeout, probe
        self.results, self.stopping = results, stopping
        self.answers = queue.Queue()  # probe thread -> this thread; None: stop

    def run(self):
        worker_thread_signals()
        stuck = False  # the last probe overran its timeout and has not answered yet
        while not self.stopping.is_set():
            turn = time.monotonic()
            if stuck:  # its late answer counts for nothing; wait for it, never start a second
                stuck = self._answer(turn + self.timeout) is None
            started = turn
            if not stuck:
                started = time.monotonic()
                threading.Thread(target=self._probe, name="probe " + self.url, daemon=True).start()
                answer = self._answer(started + self.timeout)
                stuck = answer is None
            if self.stopping.is_set():
                return
            if stuck:
                answer = (False, "timeout after %g s" % self.timeout, self.timeout)
            self.results.append((self.url, started, answer))
            self.stopping.wait(max(0.0, turn + self.every - time.monotonic()))

    def _answer(self, deadline):
        """The probe's (ok, detail, seconds), or None at the monotonic deadline or on stop."""
        try:
            return self.answers.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None

    def _probe(self):
        """Run one probe (in its own daemon thread) and hand its answer to the URL's thread."""
        try:
            answer = self.probe(self.url, self.timeout)
        except Exception as e:  # a failing probe is a down URL, not a dead watch
            log.debug("probe of %s failed", self.url, exc_info=True)
            answer = (False, "probe failed (%s)" % type(e).__name__, None)
        self.answers.put(answer)


# ---------------------------------------------------------------- replay


class Timeline:
    """Matching requests and alerts per bucket of log time (a minute, coarser for long spans).
    Pure. Public: add(t, n), add_all(seconds), alert(t), as_dict() -> the report's timeline or None."""

    most_buckets = 100000  # a log spanning years gets coarser buckets: bounded memory

    def __init__(self):
        self.bucket_seconds, self.buckets, self.alert_buckets = (
            60,
            collections.Counter(),
            collections.Counter(),
        )

    def add(self, t, n=1):
        """Count n requests at log second t."""
        buckets = self.buckets
        buckets[t // self.bucket_seconds] += n
        while len(buckets) > self.most_buckets:
            self._coarsen()

    def add_all(self, seconds):
        """Count a request at each log second of seconds (at most most_buckets of them); the
        same as add(t) for each, in C."""
        self.buckets.update(map(operator.floordiv, seconds, itertools.repeat(self.bucket_seconds)))
        while len(self.buckets) > self.most_buckets:
            self._coarsen()

    def alert(self, t):
        """Count an alert at log second t."""
        self.alert_buckets[t // self.bucket_seconds] += 1

    def _coarsen(self):
        old, self.bucket_seconds = self.bucket_seconds, self.bucket_seconds * 60
        for counter in (self.buckets, self.alert_buckets):
            merged = collections.Counter()
            for bucket, n in counter.items():
                merged[bucket * old // self.bucket_seconds] += n
            counter.clear()
            counter.update(merged)

    def as_dict(self):
        """{start, bucket_seconds, counts, alerts}, at most about most_buckets; None if empty."""
        while self.buckets and max(self.buckets) - min(self.buckets) > self.most_buckets:
            self._coarsen()  # a span of years (or of a bogus date): coarser buckets, a short list
        if not self.buckets:
            return None
        first, last = min(self.buckets), max(self.buckets)
        return {
            "start": first * self.bucket_seconds,
            "bucket_seconds": self.bucket_seconds,
            "counts": [self.buckets.get(b, 0) for b in range(first, last + 1)],
            "alerts": [self.alert_buckets.get(b, 0) for b in range(first, last + 1)],
        }


class Sweep:
    """The threshold sweep: for each threshold, the clients that would have alerted and the
    alerts that would have been sent, by the same re-alert rule, on the counts of the
    configured window and of each sweep_windows window (one more SlidingWindow each, kept
    only for its counts). Pure. Public: new_marks(), count(marks, t, count, n),
    add_others(key, t, marks), alert(client), rows(highest_rows, alerts); others.

    marks: a client's last alert second per (window, threshold), a list.
    """

    def __init__(self, window, sweep_windows=()):
        threshold, max_clients = window.threshold, window.clients.max_clients
        self.window, self.threshold = window.window, threshold
        # a first request never alerts in the sweep (it has no row yet): thresholds from 2 on
        self.thresholds = sorted(
            {max(min(2, threshold), threshold // 2), threshold, 2 * threshold, 5 * threshold}
        )
        self.others = [SlidingWindow(w, 1 << 62, max_clients) for w in sweep_windows if w != self.window]
        n = len(self.thresholds) * (1 + len(self.others))
        self.alerts, self.clients = [0] * n, [0] * n
        self.alerted = set()

    def new_marks(self):
        return [None] * len(self.alerts)

    def count(self, marks, t, count, n=0):
        """The re-alert rule for each threshold, at window number n (0: the configured one)."""
        window = self.window if n == 0 else self.others[n - 1].window
        base = n * len(self.thresholds)
        for i, threshold in enumerate(self.thresholds):
            if count < threshold:
                return
            last = marks[base + i]
            if realert_due(last, t, window):
                if last is None:
                    self.clients[base + i] += 1
                self.alerts[base + i] += 1
                marks[base + i] = t

    def add_others(self, key, t, marks):
        """Count a request in the other windows, and their sweep when the client has marks."""
        for n, other in enumerate(self.others, 1):
            other.add(key, t)
            entry = other.clients.get(key)
            if marks is not None and entry is not None and entry.__class__ is not int:
                self.count(marks, t, entry.recent, n)

    def rows(self, maxima, alerts):
        """The report's sweep rows; maxima: each repeat client's largest count in the window,
        alerts: the replay's own alerts (the configured row)."""
        rows = []
        for n, window in enumerate([self.window] + [other.window for other in self.others]):
            for i, threshold in enumerate(self.thresholds):
                k = n * len(self.thresholds) + i
                configured = n == 0 and threshold == self.threshold
                rows.append(
                    {
                        "window": window,
                        "threshold": threshold,
                        "clients": len(self.alerted) if configured else self.clients[k],
                        "alerts": alerts if configured else self.alerts[k],
                        "configured": configured,
                        "note": "",
                    }
                )
        highest = max(maxima, default=1)
        if highest not in self.thresholds:
            reached = sum(1 for m in maxima if m == highest)
            row = {"window": self.window, "threshold": highest, "clients": reached, "alerts": reached}
            row.update(configured=False, note="the largest count any client reached (alerts: at least)")
            rows.insert(sum(1 for threshold in self.thresholds if threshold < highest), row)
        return rows


class Totals:
    """What a replay reports of all its counted requests together: first and last log time,
    status codes, timeline. Pure. Public: add(t, status, n), fold(); first_time, last_time,
    statuses, timeline (a Timeline), right after fold().

    None of them depends on the order of the requests: single requests are gathered in two
    lists and counted in bulk, in C, every fold_every of them (bounded memory)."""

    fold_every = 65536

    def __init__(self):
        self.first_time, self.last_time = 1 << 62, -(1 << 62)  # none yet: first > last
        self.statuses = collections.Counter()
        self.timeline = Timeline()
        self.seconds, self.codes = [], []  # single requests not folded in yet

    def add(self, t, status, n=1):
        """Count n requests at log second t with status."""
        if n == 1:
            self.seconds.append(t)
            self.codes.append(status)
            if len(self.seconds) >= self.fold_every:
                self.fold()
            return
        self.first_time, self.last_time = min(self.first_time, t), max(self.last_time, t)
        self.statuses[status] += n
        self.timeline.add(t, n)

    def fold(self):
        """Count the gathered single requests into the totals."""
        if self.seconds:
            self.first_time = min(self.first_time, min(self.seconds))
            self.last_time = max(self.last_time, max(self.seconds))
            self.statuses.update(self.codes)
            self.timeline.add_all(self.seconds)
            self.seconds, self.codes = [], []


def _count_at(entry, t, window):
    """A client's largest count in a window holding second t (Hits entry): the newest window's
    count, or for a late t, every later window that holds it (as the detector decides)."""
    secs = entry.secs
    if t < secs[-1]:
        i = bisect.bisect_left(secs, t)
        if i < len(secs) and secs[i] == t:
            return max(entry.recent, window_peak(secs, entry.cnts, t, window)[0])
    return entry.recent


class Tally:
    """What a replay reports beyond the alerts, gathered in the same single pass. Pure.

    Public: add(client, second, status, entry) for each counted request
    (entry: the window's table entry of the client after it was counted);
    takes_repeats(client) and add_repeats(...) for a run of them; alert(alert);
    rows, forgotten, totals (a Totals, which the caller fills), sweep (a Sweep).
    Per client (bounded by max_clients like the window's table): requests, the
    largest count it reached in any window, its status codes. replay_report()
    makes the report of it.
    """

    def __init__(self, window, sweep_windows=()):
        self.window, self.max_clients = window.window, window.clients.max_clients
        self.rows = {}  # client -> status of its only request, or [requests, max, statuses, marks]
        self.forgotten = 0
        self.totals = Totals()
        self.sweep = Sweep(window, sweep_windows)

    def add(self, key, t, status, entry):
        """Count one request of client key at log second t, per client: its row, the sweep."""
        rows = self.rows
        row = rows.get(key, False)
        if row is False:
            if len(rows) >= self.max_clients:
                self.forgotten += make_room(rows, self.max_clients // 4, lambda row: row[0], list)
            rows[key] = status
        else:
            if row is None or row.__class__ is bytes:
                row = rows[key] = [1, 1, {row: 1}, self.sweep.new_marks()]
            row[0] += 1
            row[2][status] = row[2].get(status, 0) + 1
            count = 1 if entry is None or entry.__class__ is int else _count_at(entry, t, self.window)
            if count > row[1]:
                row[1] = count
            self.sweep.count(row[3], t, count)
        if self.sweep.others:
            self.sweep.add_others(key, t, None if row is False else rows[key][3])

    def takes_repeats(self, key):
        """True when add_repeats can count more requests of key in bulk."""
        return not self.sweep.others and self.rows.get(key).__class__ is list

    def add_repeats(self, key, t, status, entry, n):
        """Count n more requests like the last one add() counted (same client, second and status),
        which the window counted in bulk (entry: its Hits). The same as n calls of add()."""
        row = self.rows[key]
        row[0] += n
        row[2][status] += n
        if entry.recent > row[1]:
            row[1] = entry.recent
        # the counts only grow within one second, and each threshold alerts at most once in it
        self.sweep.count(row[3], t, entry.recent)

    def alert(self, alert):
        """Note an alert the replay raised (for the timeline and the sweep's configured row)."""
        self.totals.timeline.alert(alert.time)
        self.sweep.alerted.add(alert.client)


def _requests(row):
    return row[0] if isinstance(row, list) else 1


def _status_rows(statuses):
    """[[code, count]] by count, most first; None (no status logged) as "-"."""
    rows = collections.Counter()
    for status, n in statuses.items():
        rows[status.decode("ascii") if status else "-"] += n
    return [[code, n] for code, n in sorted(rows.items(), key=lambda item: (-item[1], item[0]))]


def replay_report(tally, detector, settings, files, order_note, alerts):
    """The report dict every rendering of a replay comes from (see report_lines)."""
    tally.totals.fold()
    parser, window = detector.parser, detector.window
    ranked = heapq.nlargest(settings.top, tally.rows.items(), key=lambda item: _requests(item[1]))
    totals = tally.totals
    total = sum(totals.statuses.values())
    return {
        "version": __version__,
        "files": list(files),
        "order_note": order_note,
        "target": settings.target,
        "window": settings.window,
        "threshold": settings.threshold,
        "utc": settings.utc,
        "lines": parser.lines_read,
        "matching": parser.matches,
        "distinct_clients": len(tally.rows) + tally.forgotten,
        "distinct_clients_upper_bound": bool(tally.forgotten),
        "alerts": detector.alerts,
        "late_counted": window.late_counted,
        "late_ignored": window.late,
        "first_time": totals.first_time if total else None,
        "last_time": totals.last_time if total else None,
        "skipped": [
            {"reason": reason, "count": n, "example": example}
            for reason, n, example in not_counted(detector, settings.utc)
        ],
        "proxied_hint": parser.proxied_hint(),
        "statuses": _status_rows(totals.statuses) if total else [],
        "top": [
            {
                "client": key,
                "requests": _requests(row),
                "max_in_window": 1 if not isinstance(row, list) else row[1],
                "statuses": _status_rows(row[2] if isinstance(row, list) else {row: 1}),
            }
            for key, row in ranked
        ],
        "timeline": totals.timeline.as_dict(),
        "sweep": tally.sweep.rows(
            [row[1] for row in tally.rows.values() if isinstance(row, list)], detector.alerts
        ),
        "alerts_list": [{"time": a.time, "client": a.client, "count": a.count} for a in alerts],
    }


def open_replay(path):
    """Open a log for reading bytes: a file, a pipe (<(xzcat ...)) or "-" (standard input),
    gzip-compressed or not (told by its first bytes, not its name)."""
    raw = os.fdopen(os.dup(sys.stdin.fileno()), "rb") if path == "-" else open(path, "rb", 1 << 16)
    if raw.peek(2)[:2] == b"\x1f\x8b":
        import gzip  # here: only a replay of a gzip file needs it

        unzipped = gzip.GzipFile(fileobj=raw, mode="rb")
        unzipped.myfileobj = raw  # so that closing it closes the file too, as gzip.open does
        return unzipped
    return raw


def first_log_time(handle):
    """The log time an open replay input starts at, or None: the median of its first three timed
    lines (one line cannot move it: in a central file a client can write a time into an sshd
    line). Reads nothing away: it peeks."""
    try:
        head = handle.peek(65536)
    except (OSError, EOFError, zlib.error):
        return None
    head, times, start = head[: head.rfind(b"\n") + 1] or head, [], 0
    while start < len(head) and len(times) < 3:
        end = head.find(b"\n", start)
        end = len(head) if end == -1 else end
        t = first_time_in(head[start:end])
        if t is not None:
            times.append(t)
        start = end + 1
    return sorted(times)[len(times) // 2] if times else None


def in_time_order(paths):
    """The replay inputs in the order of their first timestamps: ([(path, handle or None)], a
    one-line note when that is not the order given (a shell's access.log* puts access.log
    first), the earliest first timestamp or None).

    Each file is opened, peeked at and closed again, one at a time: a month of rotated logs
    needs one descriptor, not one each (replay_file opens it when its turn comes). A pipe or
    standard input cannot be opened twice: it stays open (handle). A file with no timestamp
    near its start keeps its place. Raises OSError.
    """
    inputs, firsts = [], []
    for path in paths:
        handle = open_replay(path)
        raw = getattr(handle, "myfileobj", handle)  # a GzipFile's own file
        if path != "-" and stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
            with handle:
                firsts.append(first_log_time(handle))
            handle = None
        else:
            firsts.append(first_log_time(handle))
        inputs.append((path, handle))
    dated = [i for i, t in enumerate(firsts) if t is not None]
    order = list(range(len(inputs)))
    by_time = sorted(dated, key=lambda i: firsts[i])
    for k, slot in enumerate(dated):
        order[slot] = by_time[k]
    ordered = [inputs[i] for i in order]
    note = None
    if order != sorted(order):
        note = (
            "replayed in the order of their first timestamps: %d files, %s first and %s last "
            "(given: %s first)"
            % (
                len(ordered),
                ordered[0][0],
                ordered[-1][0],
                paths[0],
            )
        )
    return ordered, note, min((firsts[i] for i in dated), default=None)


def _episode_row(ended, still_open):
    """An Ended episode as a row of the report's episodes."""
    return {
        "client": ended.client,
        "start": ended.start,
        "end": ended.end,
        "requests": ended.requests,
        "peak": ended.peak,
        "ranges": ended.ranges,
        "alerts": ended.alerts,
        "open": still_open,
    }


class ReplayReadError(Exception):
    """An input of a replay could not be read to its end: path, and the error."""

    def __init__(self, path, error):
        super().__init__(path, error)
        self.path, self.error = path, error


def replay_file(settings, detector, path, handle, on_alert, reference=None):
    """Count every line of one open replay input and close it; on_alert(alert) for each alert.
    reference: the log time of the input read before (LineParser.span_time); returns this
    one's. A line more than a day ahead of the lines around it (a clock or a merge gone wrong,
    or a client's fake time) counts as one with no time, and is reported (parser.ahead), as a
    line ahead of the clock is live: it cannot move the replay's clock past every later line.
    Raises ReplayReadError. Touches disk."""
    reader = LineReader(settings.read_chunk_bytes, settings.max_line_bytes)
    try:
        with handle:
            for buf, start, end in reader.spans(handle):
                span_time = detector.parser.span_time(buf, start, end)
                reference = reference if span_time is None else span_time
                ahead = None if reference is None else reference + detector.window.late_limit_seconds
                for alert in detector.feed(buf, None, start, end, ahead):
                    on_alert(alert._replace(file=path))
    except (OSError, EOFError, zlib.error) as e:
        raise ReplayReadError(path, e) from e
    rest = reader.flush()  # a last line without its newline ends with its file
    for alert in detector.feed(rest, None):
        on_alert(alert._replace(file=path))
    return reference


def replay(settings, on_alert):
    """Run the detector over the files of settings.replay as one log, in the order of their first
    timestamps; on_alert(alert) for each alert as it is raised. Returns the report dict
    (replay_report). Raises OSError when an input cannot be opened, ReplayReadError when one
    cannot be read to its end. Touches disk."""
    detector = Detector.from_settings(settings)
    tally = detector.tally = Tally(detector.window, settings.sweep_windows)
    detector.cleanup_seconds = settings.cleanup_interval
    alerts, episodes, unlisted = [], [], [0]  # episodes: the rows of the report's table

    def count_alert(alert):
        if alert.__class__ is Ended:
            if len(episodes) < Detector.most_episodes:  # an alert flood: the first ones, the rest counted
                episodes.append(_episode_row(alert, False))
            else:
                unlisted[0] += 1
        else:
            tally.alert(alert)
            alerts.append(Alert(alert.client, alert.count, alert.time))  # what the report lists: no evidence
        on_alert(alert)

    sources, order_note, log_first_time = in_time_order(settings.replay)
    if order_note:
        log.info("Replay: %s", order_note)
    reference = None
    for path, handle in sources:
        reference = replay_file(settings, detector, path, handle or open_replay(path), count_alert, reference)
    if detector.parser.ahead:
        log.warning(
            "%d matching lines stamped up to %s past a day ahead of the lines around them (a clock "
            "or a merge gone wrong, or a client's fake time): they count at the newest log time",
            detector.parser.ahead,
            duration_text(detector.parser.ahead_seconds),
        )
    report = replay_report(tally, detector, settings, [p for p, _ in sources], order_note, alerts)
    report["episodes"] = episodes + [
        _episode_row(e, True) for e in detector.ended(0, force=True)
    ]  # ended, open
    report["episodes_unlisted"] = unlisted[0] + detector.episodes_forgotten
    report["cut_hint"] = cut_hint(detector.parser)
    report["ranges_hint"] = None
    if detector.range_alerts and not settings.ranges_once:
        report["ranges_hint"] = (
            "%s came mostly from 206 answers (byte ranges) for at most 3 distinct requests: a download "
            "manager's segments, it seems. --ranges-once would count each download once."
            % _plural(detector.range_alerts, "alert")
        )
    times = [t for t in (log_first_time, detector.parser.last_line_time) if t is not None]  # out of order?
    times += [report["first_time"], report["last_time"]] if report["first_time"] is not None else []
    report["log_first_time"], report["log_last_time"] = (min(times), max(times)) if times else (None, None)
    return report


# ---------------------------------------------------------------- the replay report
# Pure: every function here takes the report dict (see replay) and returns text; no I/O, no clock.
# The terminal report, the HTML page and --json all come from that one dict, so they agree.

# Round sizes, in seconds, a timeline is regrouped into: "per 15 minutes" reads at a glance,
# "per 17 minutes" does not. Each divides a day (except the week), so buckets start on the clock.
REPORT_BUCKETS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800)

REPORT_TEXT_ROWS = 48  # most timeline rows in the terminal report

REPORT_HTML_BARS = 120  # most timeline bars in the HTML page

REPORT_HTML_ALERTS = 1000  # most alerts listed in the HTML page (the terminal printed them all)


def clip(text, room):
    """text cut to at most room characters, ending in "..." when cut."""
    if len(text) <= room:
        return text
    return text[: max(0, room - 3)] + "..."[: max(0, room)]


def bucket_text(seconds):
    """A bucket size for people: 60 -> '1 minute', 900 -> '15 minutes', 86400 -> '1 day'."""
    for unit, name in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % unit == 0:
            n = seconds // unit
            return "1 %s" % name if n == 1 else "%d %ss" % (n, name)
    return "%d seconds" % seconds  # not reached: every int is a whole number of seconds


def clock_label(t, seconds, utc=False):
    """Start of a bucket of this many seconds on the wall clock: '2025-07-09 14:30', or the
    date alone for buckets of a day or more; local time (or UTC); '@<epoch>' if out of range."""
    try:
        if utc:
            when = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
        else:
            when = datetime.datetime.fromtimestamp(t)
    except (OverflowError, OSError, ValueError):
        return "@%d" % t
    return when.strftime("%Y-%m-%d" if seconds >= 86400 else "%Y-%m-%d %H:%M")


def _zone_offset(t, utc):
    """Seconds east of UTC of the local zone at epoch t (0 for UTC or a time out of range)."""
    if utc:
        return 0
    try:
        offset = datetime.datetime.fromtimestamp(t).astimezone().utcoffset()
    except (OverflowError, OSError, ValueError):
        return 0
    return int(offset.total_seconds()) if offset else 0


def _bucket_sizes(base, span, max_buckets):
    """Bucket sizes to try, smallest first: base, the round sizes that are whole numbers of it,
    then whole numbers of the largest, starting near the one span needs."""
    sizes = [base] + [s for s in REPORT_BUCKETS if s > base and s % base == 0]
    for size in sizes:
        yield size
    k = max(2, span // (sizes[-1] * max(1, max_buckets)))
    while True:
        yield sizes[-1] * k
        k += 1


def regroup_timeline(timeline, max_buckets, utc=False):
    """The report's timeline in fewer, round buckets: (bucket seconds, [(start, count, alerts)]).

    timeline: {"start", "bucket_seconds", "counts", "alerts"} as in the report.
    The size is the smallest of REPORT_BUCKETS (or a whole number of weeks beyond)
    that is a whole number of the kept buckets and gives at most max_buckets;
    the kept size itself when it is already coarser. Buckets start on the clock
    (a 15-minute bucket at :00, :15, ...; a day at midnight, local or UTC). Empty
    buckets before the first and after the last request are dropped; every count
    and alert is kept, so the sums are the report's. ([] when nothing was counted.)
    """
    base = max(1, int(timeline.get("bucket_seconds") or 1))
    counts = list(timeline.get("counts") or [])
    alerts = list(timeline.get("alerts") or [])
    alerts += [0] * (len(counts) - len(alerts))
    counts += [0] * (len(alerts) - len(counts))
    used = [i for i in range(len(counts)) if counts[i] or alerts[i]]
    if not used:
        return base, []
    first = timeline["start"] + used[0] * base
    last = timeline["start"] + used[-1] * base
    offset = _zone_offset(first, utc)
    for size in _bucket_sizes(base, last - first, max_buckets):
        # a bucket of a day or more starts at a midnight: weeks at the first day's, as 7 days
        # do not divide the epoch into the reader's weeks anyway
        origin = first + offset - (first + offset) % min(size, 86400) - offset
        if (last - origin) // size + 1 <= max_buckets:
            break
    groups = [[origin + i * size, 0, 0] for i in range((last - origin) // size + 1)]
    for i in range(used[0], used[-1] + 1):
        group = groups[(timeline["start"] + i * base - origin) // size]
        group[1] += counts[i]
        group[2] += alerts[i]
    return size, [tuple(group) for group in groups]


# -- the tables of the report: one model that the terminal report and the HTML page render
Column = collections.namedtuple(
    "Column", "head css text html html_head code", defaults=("", str, str, None, False)
)
Column.__doc__ = "One column of a Table: its heading and how each renderer writes a cell of it."
Column.head.__doc__ = "the heading (the HTML page's too, unless html_head)"
Column.css.__doc__ = "'n' (or 'n ...') for numbers: right-aligned; 'key' for client keys; '' for text"
Column.text.__doc__ = "value -> the terminal's plain text of a cell"
Column.html.__doc__ = "value -> the HTML page's plain text of a cell (escaped by the renderer)"
Column.code.__doc__ = "True: the HTML cell is set as <code>"
Table = collections.namedtuple("Table", "title html_title columns rows marks")
Table.__doc__ = "A table of the report: rows of values, one per row a mark ('configured', 'alerting' or '')."


def status_table(report):
    """The status codes of the matching requests: code, requests, share; None if there is none."""
    statuses = report.get("statuses") or []
    total = sum(count for _, count in statuses)
    if not total:
        return None
    share = functools.partial(_share, total=total)
    columns = (
        Column("code", text=lambda code: clip(code, 12)),
        Column("requests", "n"),
        Column("share", "n"),
    )
    rows = [[code, count, share(count)] for code, count in statuses]
    title = "Status codes of matching requests"
    return Table(title, title, columns, rows, [""] * len(rows))


def skipped_table(report):
    """The matching lines not counted: reason, lines, an example of each; None if there is none."""
    skipped = report.get("skipped") or []
    if not skipped:
        return None
    columns = (
        Column("reason", text=lambda reason: clip(printable_text(reason), 40)),
        Column("lines", "n"),
        Column("example", html=lambda example: clip(printable_text(example), 300), code=True),
    )
    rows = [[row["reason"], row["count"], row.get("example") or ""] for row in skipped]
    return Table("Not counted", "Not counted", columns, rows, [""] * len(rows))


def sweep_table(report):
    """The threshold sweep: per (window, threshold), the clients and alerts it would have given,
    and a note; the configured row marked. None if there is none."""
    sweep = report.get("sweep") or []
    if not sweep:
        return None
    columns = (
        Column("window", text=window_text, html=window_text),
        Column("threshold", "n"),
        Column("clients", "n", html_head="clients alerting"),
        Column("alerts", "n", html_head="alerts sent"),
        Column("note"),
    )
    rows, marks = [], []
    for row in sweep:
        notes = (["configured"] if row.get("configured") else []) + ([row["note"]] if row.get("note") else [])
        rows.append([row["window"], row["threshold"], row["clients"], row["alerts"], "; ".join(notes)])
        marks.append("configured" if row.get("configured") else "")
    return Table(
        "Threshold sweep (clients that would alert, alerts that would be sent)",
        "Threshold sweep: what each window and threshold would have given",
        columns,
        rows,
        marks,
    )


def top_table(report, top):
    """The top clients (at most top): client, requests, the most in any one window, main status
    codes; a client whose most reached the threshold marked. None if there is none."""
    rows = (report.get("top") or [])[: max(0, top)]
    if not rows:
        return None
    window = window_text(report["window"])
    columns = (
        Column("client", "key", printable_text, printable_text),
        Column("requests", "n"),
        Column("max in %s" % window, "n max", html_head="max in any %s window" % window),
        Column("status codes", text=main_statuses, html=functools.partial(main_statuses, most=4)),
    )
    cells = [
        [row["client"], row["requests"], row["max_in_window"], row.get("statuses") or []] for row in rows
    ]
    marks = ["alerting" if row["max_in_window"] >= report["threshold"] else "" for row in rows]
    title = "Top %d clients by matching requests" % len(rows)
    text_title = "%s (an alert at %d in any %s)" % (title, report["threshold"], window)
    return Table(text_title, title, columns, cells, marks)


def alerts_table(report, most):
    """The alerts in the order sent (the first most of them): log time, client, count."""
    utc = report.get("utc", False)
    alerts = report.get("alerts_list") or []
    columns = (
        Column(
            "log time", text=functools.partial(iso_time, utc=utc), html=functools.partial(iso_time, utc=utc)
        ),
        Column("client", "key"),
        Column("count", "n"),
    )
    rows = [[a["time"], a["client"], a["count"]] for a in alerts[:most]]
    title = "Alerts (%d)" % len(alerts)
    return Table(title, title, columns, rows, [""] * len(rows))


def episodes_table(report, most=1000):
    """The episodes (the first most): client, start, end ("open" when the log ended first),
    requests, peak in a window, share of 206 answers. None if there is none."""
    utc, rows = report.get("utc", False), report.get("episodes") or []
    if not rows:
        return None
    window = window_text(report["window"])
    when = functools.partial(iso_time, utc=utc)
    columns = (
        Column("client", "key"),
        Column("start", text=when, html=when),
        Column(
            "end",
            text=lambda t: "open" if t is None else when(t),
            html=lambda t: "open" if t is None else when(t),
        ),
        Column("requests", "n"),
        Column("peak in %s" % window, "n"),
        Column("206", "n", text=_share_text, html=_share_text),
    )
    cells = [
        [
            e["client"],
            e["start"],
            None if e["open"] else e["end"],
            e["requests"],
            e["peak"],
            (e["ranges"], e["requests"]),
        ]
        for e in rows[:most]
    ]
    more = report.get("episodes_unlisted") or 0  # an alert flood: not every episode is kept
    title = "Episodes (%d%s%s; an episode ends a whole window after its client's last request)" % (
        len(rows),
        " and %d more not kept" % more if more else "",
        ", the first %d listed" % most if len(rows) > most else "",
    )
    return Table(
        title,
        "Episodes (%d)" % len(rows),
        columns,
        cells,
        ["alerting" if e["open"] else "" for e in rows[:most]],
    )


def _share_text(pair):
    """'47%' of a (part, whole) pair."""
    part, whole = pair
    return "%d%%" % round(100.0 * part / whole) if whole else "-"


def report_lines(report, top, width):
    """The terminal report of a replay: a list of plain-text lines (no colour) from report.

    top: most clients listed; width: the terminal's columns. Lines are at most
    max(width, 80) characters (layout capped at 120 so a pasted report reads in
    an e-mail), except the summary block, kept as it always was, and a client key
    that is itself longer. Log text passes through printable_text(). Sections with
    nothing to show are left out.
    """
    limit = max(80, min(width, 120))
    lines = _summary_lines(report, limit)
    for section in (
        _skipped_lines(skipped_table(report), limit),
        _sweep_lines(sweep_table(report) if report.get("first_time") is not None else None, limit),
        _text_table(status_table(report)),
        _timeline_lines(report, limit),
        _top_lines(top_table(report, top), limit),
        _text_table(episodes_table(report)),
    ):
        if section:
            lines += [""] + section
    return lines


def _wrapped(prefix, text, limit):
    """text wrapped to limit columns after prefix, continued under where it began."""
    indent = " " * len(prefix) if len(prefix) <= limit - 20 else "    "
    return textwrap.wrap(
        printable_text(text),
        limit,
        initial_indent=prefix,
        subsequent_indent=indent,
        break_long_words=True,
        break_on_hyphens=False,
    ) or [prefix.rstrip()]


def _span_text(report, key="", none="no matching request"):
    """'<first> to <last> (H:MM:SS)' of the matching requests (key "log_": of the log's own
    times), or none."""
    first, last, utc = report.get(key + "first_time"), report.get(key + "last_time"), report.get("utc", False)
    if first is None or last is None:
        return none
    try:
        length = str(datetime.timedelta(seconds=last - first))
    except OverflowError:
        length = "%d seconds" % (last - first)
    return "%s to %s (%s)" % (iso_time(first, utc), iso_time(last, utc), length)


def _distinct_text(report):
    """The number of distinct clients, or its upper bound when some were forgotten."""
    if report.get("distinct_clients_upper_bound"):
        return (
            "at most %d (over MAX_TRACKED_IPS: one-request clients were not all kept)"
            % (report["distinct_clients"])
        )
    return "%d" % report["distinct_clients"]


def _summary_lines(report, limit):
    """The summary block: the figures, the time spans, the files, hints."""
    distinct = _distinct_text(report)
    lines = [
        "",
        "Replay summary",
        "  lines read         %d" % report["lines"],
        "  matching requests  %d" % report["matching"],
        "  distinct clients   %s" % distinct,
        "  alerts             %d" % report["alerts"],
        "  late lines counted %d (older than the window: counted at the newest time)"
        % report["late_counted"],
        "  late lines ignored %d" % report["late_ignored"],
        "  matching span      %s" % _span_text(report),
        "  log span           %s" % _span_text(report, "log_", "no timed line"),
    ]
    files = report.get("files") or []
    if files:
        lines += _wrapped("  files              ", ", ".join(printable_text(f) for f in files), limit)
    if report.get("order_note"):
        lines += _wrapped("                     ", report["order_note"], limit)
    for key in ("proxied_hint", "ranges_hint", "cut_hint"):
        if report.get(key):
            lines += [""] + _wrapped("Note: ", report[key], limit)
    return lines


def _widths(heads, rows):
    """The width of each column of a table of text cells: its widest cell."""
    return [max(len(cells[i]) for cells in [heads] + rows) for i in range(len(heads))]


def _columns(heads, rows, right):
    """Lines of a table: heads and rows of text cells in columns two spaces apart, indented two;
    right: per column, True to right-align it (numbers). Trailing spaces are dropped."""
    widths = _widths(heads, rows)
    return [
        "  "
        + "  ".join(
            cells[i].rjust(widths[i]) if right[i] else cells[i].ljust(widths[i]) for i in range(len(cells))
        ).rstrip()
        for cells in [heads] + rows
    ]


def _text_table(table):
    """A table's title and its columns, two spaces apart, numbers right-aligned; [] for None."""
    if table is None:
        return []
    cells = [[printable_text(c.text(v)) for c, v in zip(table.columns, row)] for row in table.rows]  # noqa: B905
    right = [c.css.startswith("n") for c in table.columns]
    return [table.title] + _columns([c.head for c in table.columns], cells, right)


def _skipped_lines(table, limit):
    """'Not counted': its lines cut at limit (the example is the last column: only it is cut)."""
    return [clip(line, limit) for line in _text_table(table)]


def _sweep_lines(table, limit):
    """The threshold sweep, its notes wrapped under the note column rather than cut: they explain
    the row. The configured row's note is '<- configured'."""
    if table is None:
        return []
    notes = [row[-1] for row in table.rows]
    lines = _text_table(table._replace(rows=[row[:-1] + [""] for row in table.rows]))
    out = lines[:2]
    for i, line in enumerate(lines[2:]):
        note = ("<- " if table.marks[i] == "configured" else "") + notes[i]
        out += _wrapped(line + "  ", note, limit) if note else [line]
    return out


def _top_lines(table, limit):
    """The top clients with a '#' bar each; a key too wide to leave a bar of 8 (a long IPv6
    address) goes on a line of its own above its row."""
    if table is None:
        return []
    heads = [c.head for c in table.columns] + [""]
    cells = [[printable_text(c.text(v)) for c, v in zip(table.columns, row)] + [""] for row in table.rows]  # noqa: B905
    fixed = sum(width + 2 for width in _widths(heads, cells)[1:4]) + 4  # all but the client and the bar
    name_w = max(len(heads[0]), min(max(len(c[0]) for c in cells), limit - fixed - 10))
    own_line = [c[0] if len(c[0]) > name_w else None for c in cells]
    for c in cells:
        c[0] = c[0] if len(c[0]) <= name_w else ""
    heads[0] = heads[0].ljust(name_w)
    room = max(1, limit - fixed - name_w)
    most = max(max(row[1] for row in table.rows), 1)
    for i, row in enumerate(table.rows):
        cells[i][4] = "#" * max(1, round(room * row[1] / most))
    lines = _columns(heads, cells, (False, True, True, False, False))
    out = [table.title, lines[0]]
    for i, line in enumerate(lines[1:]):
        out += ([] if own_line[i] is None else ["  " + own_line[i]]) + [line]
    return out


def _share(count, total):
    """count as a percentage of total with one decimal: '97.2%'; never a misleading 0.0% or 100.0%."""
    share = 100.0 * count / total if total else 0.0
    if 0 < share < 0.1:
        return "<0.1%"
    if 99.9 < share < 100:
        return ">99.9%"
    return "%.1f%%" % share


def _timeline_lines(report, limit):
    """'Timeline of matching requests (per <bucket>)': a '#' bar per bucket, alerts marked."""
    if report.get("first_time") is None or not report.get("timeline"):
        return []
    utc = report.get("utc", False)
    size, groups = regroup_timeline(report["timeline"], REPORT_TEXT_ROWS, utc)
    if not groups:
        return []
    labels = [clock_label(start, size, utc) for start, _, _ in groups]
    label_w = max(len(label) for label in labels)
    count_w = max(len(str(count)) for _, count, _ in groups)
    mark_w = max([len(_alert_mark(alerts)) for _, _, alerts in groups] + [0])
    room = max(10, limit - 2 - label_w - 2 - count_w - 2 - (mark_w + 2 if mark_w else 0))
    most = max(max(count for _, count, _ in groups), 1)
    lines = [
        "Timeline of matching requests (per %s, %s)" % (bucket_text(size), "UTC" if utc else "local time")
    ]
    for i, (_, count, alerts) in enumerate(groups):
        bar = "#" * max(1 if count else 0, round(room * count / most))
        text = "  %-*s  %*d  %-*s" % (label_w, labels[i], count_w, count, room, bar)
        lines.append((text + "  " + _alert_mark(alerts)).rstrip())
    return lines


def _alert_mark(alerts):
    """The mark of a bucket holding alerts: '<- 1 alert', '<- 3 alerts', or ''."""
    if not alerts:
        return ""
    return "<- " + _plural(alerts, "alert")


def _plural(n, word):
    """'1 alert', '3 alerts'."""
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def main_statuses(statuses, most=2):
    """A client's main status codes with their shares: '200 83%, 404 17%' (at most `most`)."""
    total = sum(count for _, count in statuses)
    ranked = sorted(statuses, key=lambda item: -item[1])[:most]
    parts = []
    for code, count in ranked:
        share = 100.0 * count / total if total else 0.0
        parts.append(
            "%s %s" % (clip(printable_text(code), 12), "<1%" if 0 < share < 1 else "%d%%" % round(share))
        )
    return ", ".join(parts)


def report_json(report):
    """The report as one line of JSON, keys sorted (for --json and scripts)."""
    return json.dumps(report, sort_keys=True)


def _h(text):
    """Log (or any) text for HTML and inline SVG: printable, then every markup character escaped.

    Control characters go too: XML forbids most of them even as references,
    so an SVG holding one would not parse.
    """
    import html  # here: only an HTML report needs it (start-up time of everything else)

    return html.escape(printable_text(text), quote=True)


_HTML_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 70em; }
@media (max-width: 40em) { body { margin: 0.5em; } th, td { padding: 0.15em 0.35em; } }
div.wide { overflow-x: auto; } td { overflow-wrap: break-word; }
h1 { font-size: 1.3em; overflow-wrap: anywhere; } h2 { font-size: 1.1em; margin-top: 1.6em; }
p { overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 0.4em 0; }
th, td { padding: 0.15em 0.7em; text-align: left; border-bottom: 1px solid #ddd; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.configured td, tr.alerting td.n.max { font-weight: bold; }
p.note { background: #fff6d6; padding: 0.4em 0.7em; }
svg { max-width: 100%; height: auto; font-family: monospace; font-size: 12px; }
svg .bar { fill: #4a78b5; } svg .tick { fill: #7a9cc6; } svg .alert, svg .bar.alerted { fill: #c8332b; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; background: #c8332b; vertical-align: middle; }
.swatch.plain { background: #4a78b5; }
svg .axis { fill: #555; }
code, .key { font-family: monospace; }
"""


def report_html(report):
    """The report as one self-contained HTML5 page: inline CSS and SVG, no JavaScript, nothing
    fetched from anywhere (it works offline and pastes into a ticket). All text is escaped."""
    utc = report.get("utc", False)
    files = [printable_text(f) for f in report.get("files") or []]
    shown = ", ".join(files[:3]) + (" and %d more" % (len(files) - 3) if len(files) > 3 else "")
    title = "Replay of %s: %s" % (shown or "no file", _span_text(report))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>%s</title>" % _h(title),
        "<style>%s</style></head><body>" % _HTML_STYLE,
        "<h1>%s</h1>" % _h(title),
    ]
    if len(files) > 3:
        parts.append("<p>Files, in the order replayed: %s</p>" % _h(", ".join(files)))
    for key in ("order_note", "proxied_hint", "ranges_hint", "cut_hint"):
        if report.get(key):
            parts.append('<p class="note">%s</p>' % _h(report[key]))
    parts += _html_summary(report)
    if report.get("first_time") is None:
        parts.append("<p>No matching request: nothing to chart.</p>")
    else:
        parts += _html_top(report)
        parts += _html_timeline(report, utc)
        parts += _html_table(status_table(report))
        parts += _html_table(sweep_table(report))
    parts += _html_table(skipped_table(report))
    alerts = report.get("alerts_list") or []
    if alerts:
        parts += _html_table(alerts_table(report, REPORT_HTML_ALERTS))
    if len(alerts) > REPORT_HTML_ALERTS:
        parts.append(
            "<p>and %d more (the terminal report prints them all).</p>" % (len(alerts) - REPORT_HTML_ALERTS)
        )
    parts += _html_table(episodes_table(report, REPORT_HTML_ALERTS))
    parts += _html_settings(report)
    parts.append(
        "<p><small>log_monitor %s; the terminal report and --json come from the same figures.</small></p>"
        % _h(report.get("version", ""))
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _css(name):
    """A class attribute for css class name (our own, never log text), or nothing for ''."""
    return ' class="%s"' % name if name else ""


def _html_table(table, heading=True):
    """A Table as an <h2> (unless heading is False) and an HTML table: every cell escaped, numeric
    columns of class 'n', a row's mark as its class."""
    if table is None:
        return []
    columns = table.columns
    out = ["<h2>%s</h2>" % _h(table.html_title)] if heading else []
    out += [
        '<div class="wide"><table>',
        "<tr>%s</tr>" % "".join("<th%s>%s</th>" % (_css(c.css), _h(c.html_head or c.head)) for c in columns),
    ]
    for row, mark in zip(table.rows, table.marks):  # noqa: B905
        cells = "".join(
            "<td%s>%s</td>" % (_css(c.css), ("<code>%s</code>" if c.code else "%s") % _h(c.html(v)))
            for c, v in zip(columns, row)  # noqa: B905
        )
        out.append("<tr%s>%s</tr>" % (_css(mark), cells))
    out.append("</table></div>")
    return out


def _html_settings(report):
    """The settings the report was made with, each with where it came from, and when."""
    rows = report.get("settings") or []
    if not rows:
        return []
    made = report.get("made")
    body = [
        "<tr><th><code>%s</code></th><td><code>%s</code></td><td>%s</td></tr>"
        % (_h(name), _h(repr(value)), _h(where))
        for name, value, where in rows
    ]
    when = " on %s" % _h(iso_time(int(made), report.get("utc", False))) if made is not None else ""
    return (
        ["<h2>Settings</h2>", "<p>Made%s with these settings:</p>" % when, '<div class="wide"><table>']
        + body
        + ["</table></div>"]
    )


def _html_summary(report):
    """The summary figures as a two-column table."""
    distinct = _distinct_text(report)
    rows = [
        ("lines read", report["lines"]),
        ("matching requests (%s)" % report["target"], report["matching"]),
        ("distinct clients", distinct),
        ("alerts (at %d in %s)" % (report["threshold"], window_text(report["window"])), report["alerts"]),
        ("late lines counted (older than the window: counted at the newest time)", report["late_counted"]),
        ("late lines ignored", report["late_ignored"]),
        ("time span of matching requests", _span_text(report)),
        ("time span of the whole log", _span_text(report, "log_", "no timed line")),
    ]
    body = ["<tr><th>%s</th><td>%s</td></tr>" % (_h(name), _h(value)) for name, value in rows]
    return ["<h2>Summary</h2>", '<table class="summary">'] + body + ["</table>"]


def _html_top(report):
    """The top clients: a horizontal SVG bar chart, then their table."""
    rows = report.get("top") or []
    if not rows:
        return []
    keys = [printable_text(row["client"]) for row in rows]
    labels = [clip(k, 40) for k in keys]
    label_px = 8 + 7.3 * max(len(label) for label in labels)  # monospace 12px: about 7.2 px a character
    bar_px, row_px = 320.0, 22  # narrow enough to read on a phone (the SVG shrinks to fit)
    width = label_px + bar_px + 150  # room for "12345 (peak 678)"
    height = row_px * len(rows) + 6
    most = max(max(row["requests"] for row in rows), 1)
    svg = [
        '<svg class="top" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">'
        % (width, height, width, height, _h("top %d clients by matching requests" % len(rows)))
    ]
    for i, row in enumerate(rows):
        key, label, y = keys[i], labels[i], 3 + i * row_px
        w = bar_px * row["requests"] / most
        alerted = row["max_in_window"] >= report["threshold"]
        tip = "%s: %s, at most %d in any %s%s" % (
            key,
            _plural(row["requests"], "request"),
            row["max_in_window"],
            window_text(report["window"]),
            ": alerted" if alerted else "",
        )
        svg += [
            '<text class="label" x="%.1f" y="%d" text-anchor="end">%s</text>'
            % (label_px - 6, y + 15, _h(label)),
            '<rect class="bar%s" data-client="%s" data-requests="%d" data-peak="%d" x="%.1f" y="%d" '
            'width="%.2f" height="%d"><title>%s</title></rect>'
            % (
                " alerted" if alerted else "",
                _h(key),
                row["requests"],
                row["max_in_window"],
                label_px,
                y,
                w,
                row_px - 4,
                _h(tip),
            ),
            '<text class="count" x="%.2f" y="%d">%d (peak %d)</text>'
            % (label_px + w + 5, y + 15, row["requests"], row["max_in_window"]),
        ]
    svg.append("</svg>")
    intro = (
        "<p>Most requests of %s: each bar is a client's total, with its peak in any %s beside it. "
        '<span class="swatch"></span> alerted (a peak of %d or more); <span class="swatch plain"></span> '
        "did not.</p>" % (_h(report["target"]), _h(window_text(report["window"])), report["threshold"])
    )
    table = top_table(report, len(rows))
    return ["<h2>%s</h2>" % _h(table.html_title), intro] + svg + _html_table(table, heading=False)


def _html_timeline(report, utc):
    """The timeline as an SVG column chart: a rect.tick per bucket, a rect.alert over those with alerts."""
    size, groups = regroup_timeline(report.get("timeline") or {}, REPORT_HTML_BARS, utc)
    if not groups:
        return []
    step = max(4, min(40, 960 // len(groups)))  # px a bar, gap included
    first, last = clock_label(groups[0][0], size, utc), clock_label(groups[-1][0], size, utc)
    label_px = 7.3 * max(len(first), len(last))  # monospace 12px: about 7.2 px a character
    width, height = max(step * len(groups) + 60, int(50 + label_px + 10)), 160
    top_px, base_px = 14, 130  # alert markers above the tallest bar; time labels below the axis
    most = max(max(count for _, count, _ in groups), 1)
    scale = (base_px - top_px) / most
    svg = [
        '<svg class="timeline" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="timeline">'
        % (width, height, width, height)
    ]
    for i, (start, count, alerts) in enumerate(groups):
        h = count * scale
        x = 50 + i * step
        tip = ", ".join(
            [clock_label(start, size, utc), _plural(count, "request")]
            + ([_plural(alerts, "alert")] if alerts else [])
        )
        svg.append(
            '<rect class="tick" data-start="%d" data-count="%d" data-alerts="%d" x="%d" y="%.2f" width="%d" '
            'height="%.2f"><title>%s</title></rect>'
            % (start, count, alerts, x, base_px - h, max(1, step - 1), h, _h(tip))
        )
        if alerts:
            svg.append(
                '<rect class="alert" data-start="%d" data-alerts="%d" x="%d" y="2" width="%d" height="8">'
                "<title>%s</title></rect>" % (start, alerts, x, max(1, step - 1), _h(tip))
            )
    svg += [
        '<text class="axis" x="46" y="%d" text-anchor="end">%d</text>' % (top_px + 10, most),
        '<text class="axis" x="46" y="%d" text-anchor="end">0</text>' % base_px,
        '<text class="axis" x="50" y="%d">%s</text>' % (base_px + 18, _h(first)),
    ]
    if len(groups) > 1 and width - 4 - label_px > 50 + label_px + 12:  # the last label, where it fits
        svg.append(
            '<text class="axis" x="%d" y="%d" text-anchor="end">%s</text>'
            % (width - 4, base_px + 18, _h(last))
        )
    svg.append("</svg>")
    caption = "<p>Matching requests per %s (%s); red marks: buckets holding alerts.</p>" % (
        _h(bucket_text(size)),
        "UTC" if utc else "local time",
    )
    return ["<h2>Timeline of matching requests</h2>", caption] + svg


# ---------------------------------------------------------------- command line


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2 (no usage block, no traceback)."""

    def error(self, message):
        self.exit(2, "%s%s: error: %s\n" % (stderr_stamp(), self.prog, printable_text(message)))

    def flag(self, dest):
        """The flag that sets dest: --trusted-proxy for trusted_proxies."""
        return next(a.option_strings[0] for a in self._actions if a.dest == dest and a.option_strings)


def positive(kind):
    """An argparse type: a number of kind greater than 0."""

    def convert(text):
        value = kind(text)
        if not 0 < value < 1e9:  # also refuses nan and inf
            raise argparse.ArgumentTypeError("must be greater than 0 (and finite), not %s" % text)
        return value

    convert.__name__ = kind.__name__
    return convert


def facility_level(text):
    """An argparse type: a facility.level that syslog knows."""
    try:
        syslog_priority(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def network(text):
    """An argparse type: an address or CIDR block, as its canonical text."""
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError("not an address or CIDR block: %r" % text) from None


def prefix_length(text):
    """An argparse type: an IPv6 prefix length from 1 to 128."""
    value = int(text)
    if not 1 <= value <= 128:
        raise argparse.ArgumentTypeError("must be from 1 to 128, not %s" % text)
    return value


def ipv4_prefix_length(text):
    """An argparse type: an IPv4 prefix length from 1 to 32."""
    value = int(text)
    if not 1 <= value <= 32:
        raise argparse.ArgumentTypeError("must be from 1 to 32, not %s" % text)
    return value


def not_empty(text):
    """An argparse type: any text but the empty one."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def level_name(text):
    """An argparse type: a logging level for stderr (DEBUG, INFO, WARNING, ERROR)."""
    if not isinstance(logging.getLevelName(text), int):
        raise argparse.ArgumentTypeError("not a logging level: %r (DEBUG, INFO, WARNING, ERROR)" % text)
    return text


def hook_command(text):
    """An argparse type: an --on-alert command, split as a shell splits it. Its program must be
    there and executable now, not only at the first alert."""
    try:
        argv = shlex.split(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError("%r: %s" % (text, e)) from None
    if not argv:
        raise argparse.ArgumentTypeError("an empty command")
    program = argv[0]
    if shutil.which(program) is None:
        path = os.environ.get("PATH", os.defpath).split(os.pathsep)
        places = [program] if os.sep in program else [os.path.join(d, program) for d in path]
        if any(os.path.isfile(place) for place in places):
            raise argparse.ArgumentTypeError("program %s is not executable" % program)
        raise argparse.ArgumentTypeError(
            "program %s is not found%s" % (program, "" if os.sep in program else " on PATH")
        )
    return text


# The names of the configuration block, which a --config file uses too: (NAME, Settings attribute,
# the check of a value, the same as its flag's, the value it ships with). --print-config tells a
# value edited in the block ("block") from the one it ships with ("default").
CONFIG_NAMES = (
    ("LOG_DIR", "log_dir", str, "/logs/apache"),
    ("LOG_PREFIX", "log_prefix", str, "ssl_www_log-"),
    ("LOG_DATE_FORMAT", "date_format", str, "%Y-%m-%d"),
    ("USE_UTC", "utc", bool, False),
    ("LOG_FILE", "log_file", str, None),
    ("TARGET_MESSAGE", "target", not_empty, "today_download"),
    ("CHECK_INTERVAL", "interval", positive(float), 1),
    ("TIME_WINDOW", "window", positive(int), 600),
    ("THRESHOLD_COUNT", "threshold", positive(int), 10),
    ("CLEANUP_INTERVAL", "cleanup_interval", positive(float), 300),
    ("SYSLOG_FACILITY", "facility", facility_level, "user.error"),
    ("SYSLOG_TAG", "tag", str, "AlbumMonitor"),
    ("SYSLOG_SOCKET", "syslog_socket", str, None),
    ("LOGGER_TIMEOUT", "logger_timeout", positive(float), 3),
    ("STATE_FILE", "state_file", str, None),
    ("STATE_SAVE_INTERVAL", "state_save_interval", positive(float), 5),
    ("MAX_TRACKED_IPS", "max_clients", positive(int), 200000),
    ("IPV6_PREFIX", "ipv6_prefix", prefix_length, 128),
    ("IPV4_PREFIX", "ipv4_prefix", ipv4_prefix_length, 32),
    ("RANGES_ONCE", "ranges_once", bool, False),
    ("IGNORE_IPS", "ignore_ip", network, []),
    ("TRUSTED_PROXIES", "trusted_proxies", network, []),
    ("ON_ALERT", "on_alert", hook_command, []),
    ("HOOK_TIMEOUT", "hook_timeout", positive(float), 10),
    ("ROTATED_FILE_IDLE", "rotated_idle", positive(float), 300),
    ("MAX_CLOCK_AHEAD", "max_clock_ahead", positive(float), 60),
    ("MAX_LINE_BYTES", "max_line_bytes", positive(int), 65536),
    ("READ_CHUNK_BYTES", "read_chunk_bytes", positive(int), 1 << 20),
    ("LOG_LEVEL", "log_level", level_name, "INFO"),
    ("WATCH_URLS", "watch_urls", http_url, []),
    ("WATCH_EVERY", "watch_every", positive(float), 60),
    ("WATCH_TIMEOUT", "watch_timeout", positive(float), 10),
    ("WATCH_FAILURES", "watch_failures", positive(int), 2),
)


def shown(value, limit=60):
    """A configuration value as it is written (repr), short and printable, for an error."""
    text = printable_text(repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def config_value(check, shipped, value):
    """A value of the configuration block or of a --config file (a Python literal) checked as its
    flag's text is, by check, in the shape of the value shipped: a list, True or False, a number,
    text, or also None where None ships. Returns the value to use; raises ValueError."""
    if isinstance(shipped, list):
        if not isinstance(value, (list, tuple)):
            raise ValueError("must be a list, like [%s], not %s" % (shown(shipped or "..."), shown(value)))
        return [config_value(check, "", item) for item in value]
    if isinstance(shipped, bool):
        if not isinstance(value, bool):
            raise ValueError("must be True or False, not %s" % shown(value))
        return value
    if value is None and shipped is None:
        return None
    if isinstance(shipped, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("must be a number, not %s" % shown(value))
        text = repr(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError("must be text in quotes, not %s" % shown(value))
    try:
        return check(text)
    except argparse.ArgumentTypeError as e:
        raise ValueError(str(e)) from None
    except ValueError:
        raise ValueError("must be a whole number, not %s" % shown(value)) from None


class ConfigError(Exception):
    """A --config file that cannot be used; the text names the file and line: bad.conf:2: ..."""


def read_config(path):
    """[(line number, NAME, value)] of the --config file path: NAME = value lines, NAME from the
    configuration block, value a Python literal read by ast.literal_eval (no code runs); #
    comments and blank lines are allowed. Raises ConfigError."""
    import ast  # here: only a --config needs it
    import difflib

    names = {name: (check, shipped) for name, _, check, shipped in CONFIG_NAMES}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise ConfigError("%s: %s" % (path, os_reason(e))) from None
    except UnicodeDecodeError:
        raise ConfigError("%s: not UTF-8 text" % path) from None
    found, seen = [], {}
    for number, line in enumerate(lines, 1):
        where, text = "%s:%d" % (path, number), line.strip()
        if not text or text.startswith("#"):
            continue
        name, equals, literal = (part.strip() for part in text.partition("="))
        if not equals or not name.isidentifier():
            raise ConfigError("%s: not NAME = value: %s" % (where, shown(text)))
        if name not in names:
            near = difflib.get_close_matches(name, names, 1)
            raise ConfigError("%s: unknown setting %s%s" % (where, name, " (%s?)" % near[0] if near else ""))
        if name in seen:
            raise ConfigError("%s: %s is set already on line %d" % (where, name, seen[name]))
        try:
            value = ast.literal_eval(literal)
        except Exception:  # SyntaxError, ValueError (code), MemoryError and RecursionError (nesting)
            raise ConfigError(
                "%s: %s: not a value (text in quotes, a number, True, False, None or a [list]): %s"
                % (where, name, shown(literal))
            ) from None
        try:
            found.append((number, name, config_value(*names[name], value)))
        except ValueError as e:
            raise ConfigError("%s: %s %s" % (where, name, e)) from None
        seen[name] = number
    return found


def build_parser():
    """The argument parser. It sets only the flags given (no defaults: parse_args lays them over
    the block and the --config file); its help gives the block's values as the defaults."""
    p = ArgumentParser(
        prog="log_monitor.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXIT_STATUSES + "\n\n" + EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    flag_groups = (add_log_flags, add_alert_flags, add_client_flags, add_output_flags, add_watch_flags)
    for add_flags in flag_groups + (add_config_flags,):
        add_flags(p)
    p.add_argument("--version", action="version", version="%(prog)s " + __version__)
    return p


def default(name, none="none"):
    """'(default: VALUE)' for a flag's help: the configuration block's value of name."""
    value = globals()[name]
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    return "(default: %s)" % str(value or none if value in (None, "") else value).replace("%", "%%")


def add_log_flags(p):
    """The flags of the log followed and of the window."""
    p.add_argument("--log-dir", help="directory of the dated logs " + default("LOG_DIR"))
    p.add_argument("--log-prefix", help="file name before the date " + default("LOG_PREFIX"))
    p.add_argument("--date-format", help="strftime date in the name " + default("LOG_DATE_FORMAT"))
    p.add_argument(
        "--utc",
        action="store_true",
        help="name files by the UTC date, as rotatelogs does without -l " + default("USE_UTC"),
    )
    p.add_argument(
        "--log-file",
        metavar="PATH",
        help="follow this one file instead of the dated series "
        + default("LOG_FILE", "none: the dated series"),
    )
    p.add_argument(
        "--target", type=not_empty, help="text in the request that counts " + default("TARGET_MESSAGE")
    )
    p.add_argument(
        "--interval", type=positive(float), help="seconds between polls " + default("CHECK_INTERVAL")
    )
    p.add_argument("--window", type=positive(int), help="sliding window in seconds " + default("TIME_WINDOW"))
    p.add_argument(
        "--threshold",
        type=positive(int),
        help="requests within the window that alert " + default("THRESHOLD_COUNT"),
    )
    p.add_argument(
        "--cleanup-interval",
        type=positive(float),
        help="seconds between sweeps of idle clients " + default("CLEANUP_INTERVAL"),
    )


def add_alert_flags(p):
    """The flags of alerting, of the replay and of the state file."""
    p.add_argument(
        "--facility",
        type=facility_level,
        help="syslog facility.level for logger -p " + default("SYSLOG_FACILITY"),
    )
    p.add_argument("--tag", help="syslog tag for logger -t " + default("SYSLOG_TAG"))
    p.add_argument(
        "--syslog-socket",
        metavar="PATH",
        help="Unix socket for alerts, passed to logger --socket "
        + default("SYSLOG_SOCKET", DEFAULT_SYSLOG_SOCKET),
    )
    p.add_argument(
        "--from-start",
        action="store_true",
        help="read a file that exists at start from its beginning, not its end",
    )
    p.add_argument(
        "--replay",
        nargs="+",
        metavar="FILE",
        help="run the detector over these logs (plain, gzip, a pipe, - for standard input) as one "
        "log in the order of their first timestamps, print alerts and a report, and exit; never calls logger",
    )
    p.add_argument("--top", type=positive(int), help="clients in the replay report (default: 10)")
    p.add_argument("--dry-run", action="store_true", help="print alerts instead of sending them")
    p.add_argument(
        "--state-file",
        metavar="PATH",
        help="keep the read position here across restarts "
        + default("STATE_FILE", "none: a start reads from the end of the log"),
    )


def add_client_flags(p):
    """The flags of who counts as a client, and of what an alert runs."""
    p.add_argument(
        "--ipv6-prefix", type=prefix_length, help="count IPv6 clients per /N prefix " + default("IPV6_PREFIX")
    )
    p.add_argument(
        "--ipv4-prefix",
        type=ipv4_prefix_length,
        help="count IPv4 clients per /N prefix (24: a subnet; --ignore-ip and --trusted-proxy still take "
        "single addresses) " + default("IPV4_PREFIX"),
    )
    p.add_argument(
        "--ranges-once",
        action="store_true",
        help="a request answered 206 (a byte range: a download manager's segment) does not count when the "
        "client's request for the same target counted within a window, nor does the first 200 after a "
        "counted 206 (the manager's first connection, logged last); other 200s count each "
        + default("RANGES_ONCE"),
    )
    p.add_argument(
        "--ignore-ip",
        type=network,
        action="append",
        metavar="ADDR_OR_CIDR",
        help="never count this address or block; repeatable " + default("IGNORE_IPS"),
    )
    p.add_argument(
        "--on-alert",
        type=hook_command,
        action="append",
        metavar="'COMMAND ARGS'",
        help="after each alert run COMMAND (split like a shell splits it, never run by a shell) with "
        "{ip} {count} {target} {window} {time} {message} {distinct} {first} {repeat} replaced in ARGS "
        "(see the README's Alerts); repeatable " + default("ON_ALERT"),
    )
    p.add_argument(
        "--trusted-proxy",
        dest="trusted_proxies",
        type=network,
        action="append",
        metavar="ADDR_OR_CIDR",
        help="a load balancer or CDN in the first field: the client is taken from the line's "
        "X-Forwarded-For, walked from the right past these; repeatable " + default("TRUSTED_PROXIES"),
    )


def add_output_flags(p):
    """The flags of the output: JSON, the HTML report, quiet, the replay's sweep."""
    p.add_argument(
        "--json",
        action="store_true",
        help="alerts on stdout as JSON lines (time, client, target, count, window, file, message, "
        "distinct_requests, first_time, statuses, repeat, hosts), and ENDED lines as objects with "
        '"event": "ended"; with --replay the report too, as one JSON object on the last line',
    )
    p.add_argument(
        "--html",
        metavar="FILE",
        help="with --replay: write the report as one self-contained HTML page (charts, tables)",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="print the alerts and problems only: no start and stop lines, no replay report on the terminal",
    )
    p.add_argument(
        "--sweep-window",
        dest="sweep_windows",
        type=positive(int),
        action="append",
        metavar="SECONDS",
        help="with --replay: add threshold-sweep rows for this window too; repeatable",
    )


def add_watch_flags(p):
    """The flags of watching URLs."""
    p.add_argument(
        "--watch-url",
        dest="watch_urls",
        type=http_url,
        action="append",
        metavar="URL",
        help="also request this URL every --watch-every seconds and alert when it is "
        "down or back; repeatable %s. Alone: watch URLs only" % default("WATCH_URLS"),
    )
    p.add_argument(
        "--watch-every",
        type=positive(float),
        help="seconds between requests of each watched URL " + default("WATCH_EVERY"),
    )
    p.add_argument(
        "--watch-timeout",
        type=positive(float),
        help="seconds a watched URL has to answer " + default("WATCH_TIMEOUT"),
    )
    p.add_argument(
        "--watch-failures",
        type=positive(int),
        help="failed requests in a row that make a URL down " + default("WATCH_FAILURES"),
    )


def add_config_flags(p):
    """The flags of the configuration file."""
    p.add_argument(
        "--config",
        metavar="FILE",
        help="read settings from FILE: NAME = value lines with the names of the configuration block "
        "(THRESHOLD_COUNT = 20); flags override it, and it overrides the block",
    )
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the settings in effect and where each comes from (default, block, file, flag), and exit",
    )


def parse_args(argv=None):
    """Settings from the flags, over a --config file, over the configuration block; exits 2 with
    one line on a bad value. settings.sources: where each block name's value comes from."""
    p = build_parser()
    given = vars(p.parse_args(argv))  # the flags given, and nothing else
    values, sources = {}, {}
    for name, attr, check, shipped in CONFIG_NAMES:
        value = globals()[name]
        try:
            values[attr] = config_value(check, shipped, value)
        except ValueError as e:
            p.error("%s in the configuration block: %s" % (name, e))
        sources[name] = "default" if value == shipped and type(value) is type(shipped) else "block"
    config = given.get("config")
    if config is not None:
        attrs = {name: attr for name, attr, _, _ in CONFIG_NAMES}
        try:
            for number, name, value in read_config(config):
                values[attrs[name]] = value
                sources[name] = "file %s:%d" % (config, number)
        except ConfigError as e:
            p.error(str(e))
    names = {attr: name for name, attr, _, _ in CONFIG_NAMES}
    for attr in given:
        if attr in names:
            sources[names[attr]] = "flag " + p.flag(attr)
    values.update(given)
    s = Settings(**values)
    s.sources = sources
    s.watch_only = bool(s.watch_urls) and s.log_file is None and sources["LOG_DIR"] in ("default", "block")
    if (s.log_file == "-" or "-" in (s.replay or ())) and sys.stdin is None:  # started with <&-
        p.error("standard input is closed: nothing to read from - (start it with a pipe or a file)")
    if s.log_file == "-" and s.state_file:
        p.error("--state-file makes no sense with --log-file - (standard input has no position to resume)")
    if s.html and not s.replay:
        p.error("--html goes with --replay")
    for path in s.replay or ():  # files, pipes (<(xzcat ...)) and "-" are fine; none is opened
        problem = path != "-" and unreadable(path)
        if problem:
            p.error("cannot read replay file %s: %s" % (path, problem))
    if s.html and not s.print_config:
        problem = unwritable(s.html)
        if problem:
            p.error("cannot write --html %s: %s" % (s.html, problem))
    return s


def unreadable(path):
    """Why path cannot be read (a few words), or None. Opens nothing: a pipe stays untouched."""
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            return "is a directory"
    except OSError as e:
        return os_reason(e)
    return None if os.access(path, os.R_OK) else "permission denied"


def unwritable(path):
    """Why a file cannot be written at path (a few words), or None. A file that was not there is
    made to find out, and removed again; one that was is not changed."""
    existed = os.path.lexists(path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644))
    except OSError as e:
        return os_reason(e)
    if not existed:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return None


def run_replay(settings, out=print_line):
    """--replay: the alerts as they are raised, then the report (terminal unless --quiet, --json,
    and --html into its file); the exit status."""
    alerting = Alerting(settings.target, settings.window, settings.utc, out=out, as_json=settings.json)
    try:
        report = replay(settings, alerting.send)
    except ReplayReadError as e:
        log.error(
            "Cannot read %s: %s", e.path, os_reason(e.error) if isinstance(e.error, OSError) else e.error
        )
        return 1
    except OSError as e:
        log.error("Cannot read %s: %s", e.filename or "a replay file", os_reason(e))
        return 1
    report["settings"] = [row for row in config_rows(settings) if row[0] in REPLAY_SETTINGS]
    report["made"] = time.time()
    if settings.html:
        try:
            with open(settings.html, "w", encoding="utf-8") as f:
                f.write(report_html(report))
                size = f.tell()
        except OSError as e:
            log.error("Cannot write %s: %s", settings.html, os_reason(e))
            return 1
    if settings.json:
        out(report_json(report))
    elif not settings.quiet:
        for text in report_lines(report, settings.top, shutil.get_terminal_size().columns):
            out(text)
    if settings.html:  # said even with --quiet: it is where the report went
        log.log(
            logging.WARNING if settings.quiet else logging.INFO,  # --quiet shows warnings and up
            "Report written to %s (%d KB)",
            settings.html,
            -(-size // 1024),
        )
    return 0


# The settings a replay's figures depend on, shown in its HTML page and --json.
REPLAY_SETTINGS = "TARGET_MESSAGE TIME_WINDOW THRESHOLD_COUNT IPV6_PREFIX IPV4_PREFIX RANGES_ONCE IGNORE_IPS"
REPLAY_SETTINGS = (REPLAY_SETTINGS + " TRUSTED_PROXIES MAX_TRACKED_IPS MAX_LINE_BYTES USE_UTC").split()


def config_rows(settings):
    """[(NAME, value, where it came from)] of each name of the configuration block in effect."""
    return [(name, getattr(settings, attr), settings.sources[name]) for name, attr, _, _ in CONFIG_NAMES]


def config_lines(settings):
    """--print-config: the settings in effect as a --config file would give them, each with
    where it came from (default, block, file FILE:LINE, flag --NAME)."""
    rows = [("%s = %r" % (name, value), where) for name, value, where in config_rows(settings)]
    width = max(len(text) for text, _ in rows)
    head = "# log_monitor %s: the settings in effect; config file: %s" % (
        __version__,
        settings.config or "none",
    )
    return [head] + [printable_text("%-*s  # %s" % (width, text, where)) for text, where in rows]


def banner(settings, spec):
    """The start line: what alerts, what is read (spec), and with what."""
    if settings.watch_only:
        parts = ["log_monitor %s: watching %d URL(s), no log" % (__version__, len(settings.watch_urls))]
    else:
        parts = [
            "log_monitor %s: alerting at %d requests for %r within %s, reading %s"
            % (__version__, settings.threshold, settings.target, window_text(settings.window), spec)
        ]
    if settings.dry_run:
        parts.append("dry run: alerts on stdout only, not sent to syslog nor to hooks")
    if settings.watch_urls:
        parts.append("watching %s" % ", ".join(settings.watch_urls))
    if not settings.watch_only:
        parts.append("state file %s" % (settings.state_file or "none"))
    parts.append("config file %s" % (settings.config or "none (the configuration block)"))
    return "; ".join(parts)


def stop_line(monitor, started):
    """The last line: why the monitor stopped, after how long, and its totals."""
    parser, reason = monitor.detector.parser, monitor.stop_reason or "the end of standard input"
    return "Stopped by %s after %s: lines read %d, matching %d, alerts %d" % (
        reason,
        duration_text(time.monotonic() - started),
        parser.lines_read,
        parser.matches,
        monitor.detector.alerts,
    )


def drain(waiting, idle_seconds):
    """Wait while waiting() (a queue's length) goes down; give up after idle_seconds without
    progress (a syslog that never comes back)."""
    last, since = waiting(), time.monotonic()
    while last and time.monotonic() - since < idle_seconds:
        time.sleep(0.05)
        now_waiting = waiting()
        if now_waiting < last:
            last, since = now_waiting, time.monotonic()


def start_alerting(settings):
    """Start the threads that deliver alerts (stdout, and unless --dry-run syslog and hooks);
    (alerting, stdout writer, courier or None, hooks or None)."""
    writer = StdoutWriter()
    writer.start()
    courier = None
    if not settings.dry_run:
        courier = Courier(
            SyslogSender(settings.facility, settings.tag, settings.syslog_socket, settings.logger_timeout),
            settings.utc,
        )
        courier.start()
        if not socket_ready(settings.syslog_socket or DEFAULT_SYSLOG_SOCKET):
            log.warning(
                "Syslog socket %s does not exist: logger would drop alerts silently; they "
                "appear on stdout and wait for it",
                settings.syslog_socket or DEFAULT_SYSLOG_SOCKET,
            )
    hooks = (
        Hooks(settings.on_alert, settings.hook_timeout)
        if settings.on_alert and not settings.dry_run
        else None
    )
    if hooks is not None:
        hooks.start()
    alerting = Alerting(
        settings.target,
        settings.window,
        settings.utc,
        courier,
        writer.write,
        stale_after=settings.window,
        hooks=hooks,
        as_json=settings.json,
    )
    return alerting, writer, courier, hooks


def main(argv=None):
    """Run the monitor (or a replay) with argv; returns the exit status."""
    started = time.monotonic()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrintableFormatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    settings = parse_args(argv)
    level = logging.getLevelName(settings.log_level)
    logging.getLogger().setLevel(max(level, logging.WARNING) if settings.quiet else level)
    if settings.print_config:
        for text in config_lines(settings):
            print(text)
        return 0
    if settings.replay:
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)  # Ctrl-C: KeyboardInterrupt
            return run_replay(settings)
        except KeyboardInterrupt:
            log.error("Replay interrupted")
            return 130
    signals = Signals()
    try:  # one monitor a state file: the lock's descriptor stays open until the process ends
        if settings.state_file and not settings.watch_only:
            lock_state_file(settings.state_file)
    except StateFileError as e:
        sys.stderr.write("%slog_monitor.py: error: %s\n" % (stderr_stamp(), printable_text(e)))
        return 2
    alerting, writer, courier, hooks = start_alerting(settings)
    watcher = (
        UrlWatcher(settings.watch_urls, settings.watch_every, settings.watch_timeout, settings.watch_failures)
        if settings.watch_urls
        else None
    )
    monitor = Monitor(settings, alerting.send, watcher=watcher, url_alert=alerting.send_event)
    signals.attach(monitor)
    if courier is not None:
        monitor.status_parts.append(
            lambda: "syslog: %d waiting, %d dropped" % (courier.pending, courier.dropped)
        )
    monitor.status_parts.append(lambda: "stdout lines dropped %d" % writer.dropped)
    log.info("%s", banner(settings, monitor.log.spec))
    if monitor.state:
        monitor.resume(monitor.clock())
    monitor.run()
    if not monitor.stop_requested:  # the end of standard input: deliver everything we can
        if courier is not None:
            drain(lambda: courier.pending, settings.logger_timeout + 2)
        if hooks is not None:
            drain(lambda: hooks.pending, settings.hook_timeout + 1)
    if courier is not None and courier.close(1.0):  # what is left: a last try each, about a second
        log.error("Stopping with %d alert(s) not delivered to syslog (they are on stdout)", courier.pending)
    if hooks is not None:  # a stop by signal kills a hook still running after a moment
        hooks.close(0.2 if monitor.stop_requested else settings.hook_timeout + 1)
    writer.close(0.5 if monitor.stop_requested else 5)
    log.info("%s", stop_line(monitor, started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
