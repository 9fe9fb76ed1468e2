"""Replay with worker processes (--jobs): the output is byte-for-byte that of one process."""

import gzip
import os
import random

from helpers import T0, TempDirTest, append, clf, run_together, script_argv


class JobsTest(TempDirTest):
    def test_any_number_of_jobs_gives_the_same_output(self):
        rng = random.Random(11)
        lines = []
        for i in range(6000):  # out of order by up to a minute; bursts, late lines, referers
            t = T0 + i // 4 - rng.choice((0, 0, 0, 2, 30, 59))
            ip = "10.%d.%d.%d" % (rng.randrange(3), rng.randrange(4), rng.randrange(40))
            if i % 500 < 40:
                ip = "198.51.100.%d" % (i // 500)  # a burst every 500 lines, across cuts
            if i % 97 == 0:
                ip = "2001:db8::%x" % rng.randrange(50)
            path = "/today_download?x=%d" % i if rng.random() < 0.7 else "/index.html"
            status = rng.choice(("200", "200", "206", "404"))
            lines.append(clf(ip, t, path=path).replace(" 200 1024 ", " %s 1024 " % status))
        plain = os.path.join(self.dir, "access.log")
        append(plain, "".join(lines[:4000]))
        packed = os.path.join(self.dir, "access.log.1.gz")  # later in time, first on the line
        with gzip.open(packed, "wt") as f:
            f.write("".join(lines[4000:]).rstrip("\n"))  # a last line without its newline
        argvs = [
            script_argv(
                ["--replay", packed, plain, "--jobs", jobs, "--threshold", "8", "--sweep-window", "60"],
                {"PIECE_BYTES": 16384},  # about 120 lines a piece: many cuts, in bursts too
            )
            for jobs in ("1", "2", "3")
        ]
        outputs = []
        for done in run_together(argvs, timeout=60):  # three separate replays, side by side
            self.assertEqual(done.returncode, 0, done.stderr)
            outputs.append(done.stdout)
        self.assertIn(b"SUSPICIOUS ACTIVITY", outputs[0])
        self.assertEqual(outputs[1], outputs[0])
        self.assertEqual(outputs[2], outputs[0])
