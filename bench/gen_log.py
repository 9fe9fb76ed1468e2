#!/usr/bin/env python3
"""gen_log: synthetic Apache access logs for the log_monitor benchmark and tests.

    python3 bench/gen_log.py --lines 1000000 --out access.log              # mixed, seed 1
    python3 bench/gen_log.py --lines 1000000 --out flood.log --shape flood
    python3 bench/gen_log.py --out heavy.log --shape heavy                 # 600,000 lines
    python3 bench/gen_log.py --lines 1000000 --out access.log --gzip-series 8

Shapes (every line is Apache Combined Log Format,
`%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`):

- mixed: a web site's day. IPv4 and IPv6 clients (a few with a user name),
  static assets, pages, bots; about 4 % of the lines request the target
  (GET /TARGET?album=N, status 200, 206, 304 or 404) from clients spread
  evenly, about 1 % only mention it in the referer (those must not count);
  a few offenders (one per 10,000 lines, at most 5) each send 12 to 30 target
  requests within 1 to 5 minutes. Log time advances RATE lines a second and
  a line's time lags its place by up to JITTER_SECONDS, as Apache logs a
  request's start time when it ends.
- flood: N target requests from N distinct clients (a quarter IPv6) over
  FLOOD_SECONDS of log time, plus FLOOD_OFFENDER's FLOOD_OFFENDER_HITS
  requests spread through the file, all within FLOOD_SECONDS (N + 10 lines).
- heavy: HEAVY_CLIENT sending HEAVY_RATE target requests a second (N lines).

--gzip-series K writes the N lines as K rotated files FILE.1.gz (newest) to
FILE.K.gz (oldest), the way logrotate names them, instead of FILE.

The same arguments give the same bytes (the gzip headers carry no time). Big
logs are built from precomputed pieces and written in large chunks: a million
mixed lines take a few seconds. Importable: mixed_batches, flood_batches,
heavy_batches (generators of lists of lines), write_log, write_gz_series,
write_flood, clf_stamps. Standard library only; Python 3.9 or newer.
"""

import argparse
import calendar
import gzip
import itertools
import os
import random
import sys
import time

# ---------------------------------------------------------------- configuration
TARGET = "today_download"  # text of the URL that log_monitor counts
START = calendar.timegm((2025, 7, 9, 5, 0, 0))  # epoch of the first line: 2025-07-09 14:00:00 +0900
UTC_OFFSET_MINUTES = 540  # time zone the mixed log is written in (+0900)
RATE = 100  # mixed: lines a second of log time
JITTER_SECONDS = 3  # mixed: most a line's time lags its place in the file
JITTER_WEIGHTS = (70, 20, 7, 3)  # mixed: share of lines lagging 0, 1, 2, 3 s (slow requests are rare)
TARGET_SHARE = 0.04  # mixed: lines that request the target
BOT_SHARE = 0.04  # mixed: lines from crawlers
REFERER_SHARE = 0.011  # mixed: other requests whose referer is a target URL
CLIENTS = 20000  # mixed: distinct ordinary clients
IPV6_SHARE = 0.15  # mixed: ordinary clients with an IPv6 address
LINES_PER_OFFENDER = 10000  # mixed: one bursty offender per this many lines ...
MAX_OFFENDERS = 5  # ... and at most this many
OFFENDER_HITS = (12, 30)  # mixed: target requests in one offender's burst
OFFENDER_SECONDS = (60, 300)  # mixed: how long a burst lasts
FLOOD_SECONDS = 600  # flood: log time the flood spans
FLOOD_OFFENDER = "203.0.113.66"  # flood: the one client that should alert
FLOOD_OFFENDER_HITS = 10  # flood: its requests, spread through the file
HEAVY_CLIENT = "198.51.100.9"  # heavy: the one client
HEAVY_RATE = 10000  # heavy: its requests a second of log time
DEFAULT_LINES = {"mixed": 1000000, "flood": 1000000, "heavy": 600000}
BATCH_LINES = 50000  # lines built and written at a time

MONTH_NAMES = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
SITE = "https://www.example.com"
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
]
DOWNLOADERS = ["Wget/1.21.3", "python-requests/2.32.3", "curl/8.5.0"]
# crawlers: (addresses, user agent); an address always goes with its agent
BOTS = [
    (
        ["66.249.66.%d" % n for n in (1, 33, 70, 129)] + ["2001:4860:4801:10::%x" % n for n in (3, 5)],
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ),
    (
        ["157.55.39.%d" % n for n in (12, 80, 201)],
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    ),
    (
        ["17.241.219.%d" % n for n in (8, 141)],
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
    ),
    (
        ["54.36.148.%d" % n for n in (55, 92)],
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    ),
]
STATIC = [
    "/static/app.js",
    "/static/site.css",
    "/static/fonts/inter.woff2",
    "/favicon.ico",
    "/img/logo.png",
    "/img/album/cover_%d.jpg",
    "/img/album/thumb_%d.webp",
]
PAGES = [
    "/",
    "/album/%d",
    "/album/%d/photos",
    "/album/%d/comments",
    "/search?q=summer+%d",
    "/login",
    "/about",
    "/news/%d",
]
BOT_PAGES = ["/robots.txt", "/sitemap.xml", "/", "/album/%d", "/album/%d/photos", "/news/%d"]
# first octets of ordinary IPv4 clients: public ranges, none of the documentation
# blocks that the flood and heavy shapes use for their named clients
IPV4_FIRST_OCTETS = [n for n in range(1, 224) if n not in (10, 100, 127, 169, 172, 192, 198, 203)]


IPV6_PREFIXES = ["2001:db8", "2400:4051", "2a02:c7c", "2604:a880", "2a01:e0a"]


# ---------------------------------------------------------------- pieces of a line
def clf_stamps(first, count, utc_offset_minutes=0):
    """The %t text (no brackets) of count consecutive seconds from epoch second first.

    '09/Jul/2025:14:00:00 +0900' for utc_offset_minutes 540: the wall time in
    that zone and the zone, as Apache writes it. Pure.
    """
    sign = "-" if utc_offset_minutes < 0 else "+"
    zone = " %s%02d%02d" % (sign, abs(utc_offset_minutes) // 60, abs(utc_offset_minutes) % 60)
    stamps = []
    day_start, day_text = None, ""
    shifted = first + utc_offset_minutes * 60
    for t in range(shifted, shifted + count):
        if day_start is None or t - day_start >= 86400:
            day_start = t - t % 86400  # one gmtime a day; the time of day is arithmetic
            tm = time.gmtime(day_start)
            day_text = "%02d/%s/%04d:" % (tm.tm_mday, MONTH_NAMES[tm.tm_mon - 1], tm.tm_year)
        s = t - day_start
        stamps.append("%s%02d:%02d:%02d%s" % (day_text, s // 3600, s // 60 % 60, s % 60, zone))
    return stamps


def random_ipv4(rng):
    """A public-looking IPv4 address outside the documentation blocks."""
    return "%d.%d.%d.%d" % (
        rng.choice(IPV4_FIRST_OCTETS),
        rng.randrange(256),
        rng.randrange(256),
        rng.randrange(1, 255),
    )


def random_ipv6(rng):
    """An IPv6 client as Apache logs it: most privacy addresses, some short, a few IPv4-mapped."""
    x = rng.random()
    prefix = rng.choice(IPV6_PREFIXES)
    if x < 0.6:
        return prefix + ":%x:%x:%x:%x:%x:%x" % tuple(rng.getrandbits(16) for _ in range(6))
    if x < 0.95:
        return prefix + ":%x:%x::%x" % (rng.getrandbits(16), rng.getrandbits(16), rng.randrange(1, 0x10000))
    return "::ffff:" + random_ipv4(rng)  # a dual-stack socket's view of an IPv4 client


def target_tail(rng, target, agent=None):
    """The part of a target request's line after the time: '] "GET /target?album=N ..." ...\\n'."""
    album = rng.randrange(1, 500)
    x = rng.random()
    if x < 0.70:
        status, size = 200, str(rng.randrange(10**6, 5 * 10**7))
    elif x < 0.85:
        status, size = 206, str(rng.randrange(10**5, 10**7))  # a resumed download
    elif x < 0.95:
        status, size = 304, "-"
    else:
        status, size = 404, str(rng.randrange(200, 400))
    referer = "%s/album/%d" % (SITE, album) if rng.random() < 0.8 else "-"
    if agent is None:
        agent = rng.choice(BROWSERS) if rng.random() < 0.9 else rng.choice(DOWNLOADERS)
    return '] "GET /%s?album=%d HTTP/1.1" %d %s "%s" "%s"\n' % (target, album, status, size, referer, agent)


def ordinary_tail(rng, target):
    """The part after the time of a request for an asset or a page; a few name the target as referer."""
    album = rng.randrange(1, 500)
    method, protocol = "GET", "HTTP/2.0" if rng.random() < 0.4 else "HTTP/1.1"
    if rng.random() < 0.55:
        path = rng.choice(STATIC)
        status, size = (200, str(rng.randrange(200, 90000))) if rng.random() < 0.85 else (304, "-")
    else:
        path = rng.choice(PAGES)
        if path == "/login" and rng.random() < 0.5:
            method = "POST"
        x = rng.random()
        status = 200 if x < 0.92 else rng.choice((301, 302, 403, 404, 404, 500))
        size = str(rng.randrange(500, 40000)) if status in (200, 404) else str(rng.randrange(200, 600))
    if "%d" in path:
        path %= album
    x = rng.random()
    # a page or asset loaded from the download page: the target is only in the referer
    if x < REFERER_SHARE / (1 - TARGET_SHARE - BOT_SHARE):
        referer = "%s/%s?album=%d" % (SITE, target, album)
    elif x < 0.2:
        referer = "-"
    elif x < 0.25:
        referer = "https://www.google.com/"
    else:
        referer = "%s/album/%d" % (SITE, rng.randrange(1, 500))
    return '] "%s %s %s" %d %s "%s" "%s"\n' % (
        method,
        path,
        protocol,
        status,
        size,
        referer,
        rng.choice(BROWSERS),
    )


class MixedPieces:
    """Precomputed pieces of the mixed shape; a line is head + stamp + tail.

    heads: 'client - user [' of the ordinary clients, with head_weights (cumulative,
    a few clients make many requests); target_tails, ordinary_tails; bot_heads and
    bot_tails, paired by index as a crawler's address goes with its agent; addresses:
    every address used, so that offenders differ. Built from rng; pure.
    """

    def __init__(self, rng, target, clients=CLIENTS, tails=4096):
        addresses, seen = [], set()
        while len(addresses) < clients:
            ip = random_ipv6(rng) if rng.random() < IPV6_SHARE else random_ipv4(rng)
            if ip not in seen:
                seen.add(ip)
                addresses.append(ip)
        users = ["alice", "bob", "carol", "dave"]
        self.heads = [
            "%s - %s [" % (ip, rng.choice(users) if rng.random() < 0.02 else "-") for ip in addresses
        ]
        # roughly Zipf: the busiest ordinary client makes a few per mille of the requests
        self.head_weights = list(itertools.accumulate(1.0 / (rank + 20) for rank in range(clients)))
        self.target_tails = [target_tail(rng, target) for _ in range(tails // 4)]
        self.ordinary_tails = [ordinary_tail(rng, target) for _ in range(tails)]
        self.bot_heads, self.bot_tails = [], []
        for bot_addresses, agent in BOTS:
            for ip in bot_addresses:
                seen.add(ip)
                for _ in range(64):
                    path = rng.choice(BOT_PAGES)
                    if "%d" in path:
                        path %= rng.randrange(1, 500)
                    status = 200 if rng.random() < 0.9 else rng.choice((301, 404))
                    self.bot_heads.append("%s - - [" % ip)
                    self.bot_tails.append(
                        '] "GET %s HTTP/1.1" %d %d "-" "%s"\n'
                        % (path, status, rng.randrange(300, 40000), agent)
                    )
        self.addresses = seen

    def new_address(self, rng, ipv6=False):
        """An address no client of these pieces has; it is then taken."""
        while True:
            ip = random_ipv6(rng) if ipv6 else random_ipv4(rng)
            if ip not in self.addresses and not ip.startswith("::ffff:"):
                self.addresses.add(ip)
                return ip


def offender_lines(rng, pieces, lines, rate, count, target):
    """{line index: (head, tail)}: count offenders' bursts of target requests, placed by log time.

    Each offender sends OFFENDER_HITS requests within OFFENDER_SECONDS (or
    the whole log, if shorter); every third is an IPv6 client. Pure.
    """
    span = lines / rate
    placed = {}
    for n in range(count):
        head = pieces.new_address(rng, ipv6=n % 3 == 2) + " - - ["
        agent = rng.choice(DOWNLOADERS)
        hits = rng.randint(*OFFENDER_HITS)
        seconds = min(span, rng.uniform(*OFFENDER_SECONDS))
        begin = rng.uniform(0, span - seconds)
        for _ in range(min(hits, lines - len(placed))):
            i = min(lines - 1, int((begin + rng.uniform(0, seconds)) * rate))
            while i in placed:
                i = (i + 1) % lines
            placed[i] = (head, target_tail(rng, target, agent))
    return placed


# ---------------------------------------------------------------- shapes
def mixed_batches(lines, seed=1, target=TARGET, start=START, rate=RATE, offenders=None, batch=BATCH_LINES):
    """Lists of up to batch lines (str, each with its newline) of the mixed shape; lines in all.

    rate is whole lines a second of log time; offenders defaults to one per
    LINES_PER_OFFENDER lines (at least 1, at most MAX_OFFENDERS). Pure.
    """
    rng = random.Random(seed)
    pieces = MixedPieces(rng, target)
    if offenders is None:
        offenders = min(MAX_OFFENDERS, max(1, lines // LINES_PER_OFFENDER))
    bursts = offender_lines(rng, pieces, lines, rate, offenders, target) if lines else {}
    burst_indices = sorted(bursts)
    # stamps[0] is JITTER_SECONDS before start, so that a lagging first line has one
    stamps = clf_stamps(start - JITTER_SECONDS, lines // rate + JITTER_SECONDS + 1, UTC_OFFSET_MINUTES)
    kind_weights = (TARGET_SHARE, TARGET_SHARE + BOT_SHARE, 1.0)
    lags = range(JITTER_SECONDS, -1, -1)  # index offset into stamps: JITTER_SECONDS is no lag
    lag_weights = list(itertools.accumulate(JITTER_WEIGHTS))
    choices = rng.choices
    for first in range(0, lines, batch):
        n = min(batch, lines - first)
        kinds = choices((0, 1, 2), cum_weights=kind_weights, k=n)
        n_target, n_bot = kinds.count(0), kinds.count(1)
        n_ordinary = n - n_target - n_bot
        # draw each kind's pieces in bulk, then deal them out in the order of kinds
        bots = choices(range(len(pieces.bot_heads)), k=n_bot)
        heads = _dealt(
            kinds,
            (
                choices(pieces.heads, k=n_target),
                [pieces.bot_heads[j] for j in bots],
                choices(pieces.heads, cum_weights=pieces.head_weights, k=n_ordinary),
            ),
        )
        tails = _dealt(
            kinds,
            (
                choices(pieces.target_tails, k=n_target),
                [pieces.bot_tails[j] for j in bots],
                choices(pieces.ordinary_tails, k=n_ordinary),
            ),
        )
        for i in burst_indices:
            if first <= i < first + n:
                heads[i - first], tails[i - first] = bursts[i]
        offsets = choices(lags, cum_weights=lag_weights, k=n)
        times = [stamps[(first + k) // rate + offset] for k, offset in enumerate(offsets)]
        yield list(map(str.__add__, map(str.__add__, heads, times), tails))


def _dealt(kinds, sources):
    """Items taken in turn from sources[kind] for each kind in kinds."""
    takers = [iter(source).__next__ for source in sources]
    return [takers[kind]() for kind in kinds]


def flood_batches(
    lines, start=START, seconds=FLOOD_SECONDS, seed=1, target=TARGET, batch=BATCH_LINES, utc_offset_minutes=0
):
    """Lists of lines of the flood shape: lines target requests from as many clients, plus the offender.

    Client i is IPv6 when i % 4 == 0, else 1.x.y.z; line i's time is
    start + i * seconds // lines. FLOOD_OFFENDER's FLOOD_OFFENDER_HITS lines
    come before clients lines * (2k+1) // 20, so a batch may hold a few more
    than batch lines; a batch of clients within one second of log time has
    one stamp. Pure.
    """
    rng = random.Random(seed)
    stamps = clf_stamps(start, seconds, utc_offset_minutes)
    tail = '] "GET /%s?a=1 HTTP/1.1" 200 1 "-" "-"\n' % target
    offender = FLOOD_OFFENDER + ' - - [%s] "GET /' + target + ' HTTP/1.1" 200 1 "-" "-"\n'
    hits = {}
    for k in range(FLOOD_OFFENDER_HITS if lines else 0):
        i = lines * (2 * k + 1) // (2 * FLOOD_OFFENDER_HITS)
        hits[i] = hits.get(i, 0) + 1
    octet = [str(n) for n in range(256)]
    getrandbits = rng.getrandbits
    for first in range(0, lines, batch):
        out = []
        append = out.append
        for i in range(first, min(first + batch, lines)):
            stamp = stamps[i * seconds // lines]
            if i in hits:
                out.extend([offender % stamp] * hits[i])
            if i & 3:
                ip = "%d.%s.%s.%s" % (
                    1 + (i >> 24),
                    octet[(i >> 16) & 255],
                    octet[(i >> 8) & 255],
                    octet[i & 255],
                )
            else:
                ip = "2001:db8:%x:%x::%x" % (i >> 16, getrandbits(16), i & 0xFFFF)
            append(ip + " - - [" + stamp + tail)
        yield out


def heavy_batches(lines, start=START, rate=HEAVY_RATE, target=TARGET, utc_offset_minutes=0):
    """Lists of lines of the heavy shape: HEAVY_CLIENT's target requests, rate a second. Pure."""
    seconds = -(-lines // rate)
    for second, stamp in enumerate(clf_stamps(start, seconds, utc_offset_minutes)):
        line = '%s - - [%s] "GET /%s?album=1 HTTP/1.1" 200 1 "-" "-"\n' % (HEAVY_CLIENT, stamp, target)
        yield [line] * min(rate, lines - second * rate)


def shape_batches(shape, lines, seed=1, target=TARGET):
    """The batches of a shape by name ('mixed', 'flood', 'heavy'); seed is for mixed and flood."""
    if shape == "mixed":
        return mixed_batches(lines, seed, target)
    if shape == "flood":
        return flood_batches(lines, seed=seed, target=target)
    if shape == "heavy":
        return heavy_batches(lines, target=target)
    raise ValueError("unknown shape %r" % shape)


# ---------------------------------------------------------------- writing files
def write_log(path, batches):
    """Write the lines of batches to path (replacing it); returns how many lines. Touches disk."""
    count = 0
    with open(path, "wb") as f:
        for batch in batches:
            f.write("".join(batch).encode("ascii"))
            count += len(batch)
    return count


def write_gz_series(
    directory, lines_total, parts, name="access.log", seed=1, target=TARGET, batches=None, level=6
):
    """Write lines_total lines as parts rotated files name.1.gz (newest) .. name.N.gz (oldest).

    The lines are those of batches (default: the mixed shape), oldest first,
    split as evenly as whole lines allow. gzip level 6 is logrotate's; the
    header has no time, so the bytes repeat. Returns the paths, oldest first.
    Touches disk.
    """
    if batches is None:
        batches = mixed_batches(lines_total, seed, target)
    paths = [os.path.join(directory, "%s.%d.gz" % (name, parts - k)) for k in range(parts)]
    pending = iter(())
    for k, path in enumerate(paths):
        wanted = (k + 1) * lines_total // parts - k * lines_total // parts
        with (
            open(path, "wb") as raw,
            gzip.GzipFile("%s.%d" % (name, parts - k), "wb", level, raw, mtime=0) as out,
        ):
            while wanted > 0:
                chunk = list(itertools.islice(pending, wanted))
                if not chunk:
                    batch = next(batches, None)
                    if batch is None:
                        break
                    pending = iter(batch)
                    continue
                out.write("".join(chunk).encode("ascii"))
                wanted -= len(chunk)
    return paths


def write_flood(path, lines=1000000):
    """Write the flood shape (lines clients and the offender's 10 requests) to path. Touches disk."""
    return write_log(path, flood_batches(lines))


# ---------------------------------------------------------------- command line
def parse_args(argv=None):
    """The command line as an argparse namespace; --lines defaults by shape."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--lines",
        type=int,
        help="lines to write (default: mixed and flood 1000000, heavy 600000); flood adds the offender's 10",
    )
    p.add_argument("--out", required=True, help="file to write (replaced)")
    p.add_argument("--seed", type=int, default=1, help="random seed of mixed and flood (default: 1)")
    p.add_argument(
        "--shape", choices=sorted(DEFAULT_LINES), default="mixed", help="kind of log (default: mixed)"
    )
    p.add_argument("--target", default=TARGET, help="URL text that log_monitor counts (default: %(default)s)")
    p.add_argument(
        "--gzip-series",
        type=int,
        metavar="K",
        help="write K rotated files OUT.1.gz (newest) .. OUT.K.gz instead of OUT",
    )
    a = p.parse_args(argv)
    if a.lines is None:
        a.lines = DEFAULT_LINES[a.shape]
    if a.lines < 0 or (a.gzip_series is not None and a.gzip_series < 1):
        p.error("--lines must be at least 0 and --gzip-series at least 1")
    return a


def main(argv=None):
    """Write the log the command line asks for; returns the exit status."""
    a = parse_args(argv)
    batches = shape_batches(a.shape, a.lines, a.seed, a.target)
    if a.gzip_series:
        directory, name = os.path.split(os.path.abspath(a.out))
        write_gz_series(directory, a.lines, a.gzip_series, name, batches=batches)
    else:
        write_log(a.out, batches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
