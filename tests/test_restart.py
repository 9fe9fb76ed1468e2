"""Restarts with --state-file, kill -9, bad state files, and a flood, on real files and processes."""

import json
import os
import signal
import subprocess
import time

from helpers import EXPECTED, T0, TempDirTest, append, burst, clf, log_monitor, script_argv


class StateFileTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.log = os.path.join(self.dir, "access.log")
        self.state = os.path.join(self.dir, "state.json")
        append(self.log, "")

    def start(self, *extra):
        return self.daemon(
            "--log-file",
            self.log,
            "--state-file",
            self.state,
            "--dry-run",
            "--interval",
            "0.02",
            *extra,
            config={"STATE_SAVE_INTERVAL": 0.05},
        )

    def saved_offset(self):
        try:
            with open(self.state) as f:
                return json.load(f)["files"][-1]["offset"]
        except (OSError, ValueError, KeyError, IndexError):
            return None

    def wait_saved(self, offset, timeout=15):
        deadline = time.monotonic() + timeout
        while self.saved_offset() != offset:
            if time.monotonic() > deadline:
                raise AssertionError("state never reached offset %d: %r" % (offset, self.saved_offset()))
            time.sleep(0.01)

    def test_clean_restart_processes_lines_written_while_down(self):
        d = self.start()
        d.wait_for("Following %s" % self.log)
        append(self.log, burst("10.0.0.1", 6) + burst("10.0.0.2", 10))
        d.wait_for(EXPECTED % ("10.0.0.2", 10), where="out")
        self.assertEqual(d.stop(), 0)
        self.assertEqual(self.saved_offset(), os.path.getsize(self.log))
        # while it is down: the rest of 10.0.0.1's burst, and more from the already alerted 10.0.0.2
        append(self.log, burst("10.0.0.1", 4, T0 + 100) + burst("10.0.0.2", 5, T0 + 120))
        d = self.start()
        d.wait_for("Resuming %s" % self.log)
        d.wait_for(EXPECTED % ("10.0.0.1", 10), where="out")
        d.wait_read(9)  # every line written while down counted: no later alert to come
        self.assertEqual(d.stop(), 0)
        self.assertEqual(len(d.out), 1, d.out)  # 10.0.0.2 is not alerted again

    def test_file_created_while_down_is_read_from_its_start(self):
        os.unlink(self.log)
        d = self.start()
        d.wait_for("Waiting for log file: %s" % self.log)
        self.assertEqual(d.stop(), 0)
        append(self.log, burst("10.0.0.1", 10))
        d = self.start()
        d.wait_for(EXPECTED % ("10.0.0.1", 10), where="out")
        self.assertEqual(d.stop(), 0)

    def test_restart_after_rotation_while_down(self):
        d = self.start()
        d.wait_for("Following %s" % self.log)
        append(self.log, burst("10.0.0.1", 5))
        self.wait_saved(os.path.getsize(self.log))
        self.assertEqual(d.stop(), 0)
        append(self.log, burst("10.0.0.1", 2, T0 + 50))
        os.rename(self.log, self.log + ".1")
        append(self.log, burst("10.0.0.1", 3, T0 + 90))
        d = self.start()
        d.wait_for("Resuming %s.1" % self.log)
        d.wait_for(EXPECTED % ("10.0.0.1", 10), where="out")
        self.assertEqual(d.stop(), 0)

    def test_kill_9_loses_nothing(self):
        d = self.start()
        d.wait_for("Following %s" % self.log)
        append(self.log, burst("10.0.0.1", 5))
        self.wait_saved(os.path.getsize(self.log))
        append(self.log, burst("10.0.0.1", 3, T0 + 40))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        append(self.log, burst("10.0.0.1", 2, T0 + 80))
        d = self.start()
        d.wait_for(EXPECTED % ("10.0.0.1", 10), where="out")
        self.assertEqual(d.stop(), 0)

    def check_ignored(self, state, mention):
        append(self.log, burst("10.0.0.1", 3))
        with open(self.state, "w") as f:
            f.write(state if isinstance(state, str) else json.dumps(state))
        d = self.start()
        d.wait_for("Following %s from offset %d" % (self.log, os.path.getsize(self.log)))
        self.assertEqual(d.stop(), 0)
        warnings = [line for line in d.err if "state file" in line.lower() and "alerting at" not in line]
        self.assertEqual(len(warnings), 1, d.err)
        self.assertIn(mention, warnings[0])
        self.assertNotIn("Traceback", "\n".join(d.err))

    def real_state(self, **changes):
        st = os.stat(self.log)
        entry = {"path": self.log, "dev": st.st_dev, "ino": st.st_ino, "offset": st.st_size}
        entry.update(changes)
        return {"version": 1, "follow": self.log, "log_time": T0, "files": [entry]}

    def test_corrupt_state_file(self):
        self.check_ignored("{not json", "Ignoring state file")

    def test_wrong_shape_state_file(self):
        self.check_ignored({"files": [{"path": 3}]}, "not a log_monitor state file")

    def test_a_state_file_of_another_version_is_ignored(self):
        state = self.real_state()
        state["version"] = 3
        self.check_ignored(state, "version 3")

    def test_state_file_for_another_file(self):
        state = self.real_state()
        state["follow"] = "/somewhere/else.log"
        self.check_ignored(state, "/somewhere/else.log")

    def test_unusable_numbers_and_nesting_are_one_warning_not_a_crash(self):
        for state in (
            self.real_state(offset=10**30),
            self.real_state(offset=-1),
            self.real_state(ino=True),
            "[" * 100000 + "]" * 100000,
        ):
            with self.subTest(state=str(state)[:40]):
                self.check_ignored(state, "Ignoring state file")

    def test_missing_state_file(self):
        append(self.log, burst("10.0.0.1", 3))
        d = self.start()
        d.wait_for("Following %s from offset %d" % (self.log, os.path.getsize(self.log)))
        self.assertEqual(d.stop(), 0)
        self.assertEqual(sum("does not exist yet" in line for line in d.err), 1)
        self.assertEqual(self.saved_offset(), os.path.getsize(self.log))

    def test_state_is_written_atomically(self):
        monitor = log_monitor.Monitor(
            log_monitor.parse_args(["--log-file", self.log, "--state-file", self.state]), lambda alert: None
        )
        self.addCleanup(monitor.follower.close)
        monitor.poll_once(T0)
        append(self.log, "x\n")
        monitor.poll_once(T0 + 10)
        self.assertEqual(sorted(os.listdir(self.dir)), ["access.log", "state.json"])
        with open(self.state) as f:
            self.assertEqual(json.load(f)["files"][0]["offset"], 2)


def write_flood(path, clients, offender="203.0.113.66"):
    """clients distinct one-request clients (a quarter IPv6) and one offender's 10 requests
    spread through them, all within ten minutes of log time."""
    lines = []
    for i in range(clients):
        t = T0 + i * 600 // clients
        if i % (clients // 10) == clients // 20:
            lines.append(clf(offender, t))
        lines.append(
            clf(
                "2001:db8:%x::%x" % (i >> 16, i & 0xFFFF)
                if i % 4 == 0
                else "10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255),
                t,
            )
        )
    append(path, "".join(lines))


class ResumeTest(TempDirTest):
    """Monitor.resume in one process, with injected time."""

    def test_rebuilding_the_windows_neither_alerts_nor_counts_in_the_statistics(self):
        log, state = os.path.join(self.dir, "access.log"), os.path.join(self.dir, "state.json")
        append(log, "")
        s = log_monitor.parse_args(["--log-file", log, "--state-file", state])
        alerts = []
        first = log_monitor.Monitor(s, alerts.append)
        first.poll_once(T0)
        append(log, burst("10.0.0.1", 10) + burst("10.0.0.2", 6))
        first.poll_once(T0 + 1)
        first.log.save()
        first.follower.close()
        self.assertEqual(len(alerts), 1)
        second = log_monitor.Monitor(s, alerts.append)
        self.addCleanup(second.follower.close)
        self.assertTrue(second.resume(T0 + 2))
        second.poll_once(T0 + 2)
        self.assertIn(
            "lines read 0, matching 0, tracked clients 2, alerts 0, late counted 0, "
            "late 0, ahead of the clock 0, skipped 0",
            second.status_line(T0 + 2),
        )
        append(log, burst("10.0.0.2", 4, T0 + 60))  # the rebuilt window completes this burst
        with self.assertLogs("log_monitor", "WARNING") as logs:  # log times 72 s ahead of the clock
            second.poll_once(T0 + 3)
        self.assertIn("ahead of the clock", " ".join(logs.output))
        self.assertEqual([(a.client, a.count) for a in alerts], [("10.0.0.1", 10), ("10.0.0.2", 10)])
        self.assertIn("lines read 4, matching 4, tracked clients 2, alerts 1", second.status_line(T0 + 3))

    def test_an_episode_open_at_the_stop_ends_after_the_restart(self):
        # before (the hostile review of issue 22): the rebuild's episodes were thrown away: no
        # ENDED line for a client that alerted before the stop, and its next alert a "first"
        log, state = os.path.join(self.dir, "access.log"), os.path.join(self.dir, "state.json")
        append(log, "")
        s = log_monitor.parse_args(["--log-file", log, "--state-file", state, "--window", "60"])
        alerts = []
        first = log_monitor.Monitor(s, alerts.append)
        first.poll_once(T0)
        append(log, burst("10.0.0.1", 10))
        first.poll_once(T0 + 1)
        first.log.save()
        first.follower.close()
        second = log_monitor.Monitor(s, alerts.append)
        self.addCleanup(second.follower.close)
        self.assertTrue(second.resume(T0 + 2))
        self.assertIn("10.0.0.1", second.detector.episodes)
        append(log, clf("192.0.2.9", T0 + 110, "/index.html"))  # another page, a window after its last
        second.poll_once(T0 + 110)
        ended = [a for a in alerts if a.__class__ is log_monitor.Ended]
        self.assertEqual([(e.client, e.requests) for e in ended], [("10.0.0.1", 10)])
        append(log, burst("10.0.0.1", 10, T0 + 120))
        second.poll_once(T0 + 170)
        self.assertEqual([a.repeat for a in alerts if a.__class__ is log_monitor.Alert], [1, 2])

    def restart(self, first, s, alerts, now):
        first.log.save()
        first.follower.close()
        second = log_monitor.Monitor(s, alerts.append)
        self.addCleanup(second.follower.close)
        self.assertTrue(second.resume(now))
        return second

    def test_a_restart_makes_no_episode_of_an_alert_never_sent_and_ends_none_twice(self):
        # before (the second hostile review of issue 22): the rebuild's episodes were taken up: it
        # re-reads lines the stopped run never counted (here, before its start at the log's end),
        # so a phantom ENDED line and "repeat": 2 on the first real alert; and an episode that
        # had ended before the stop took up a later request, and ended a second time
        log, state = os.path.join(self.dir, "access.log"), os.path.join(self.dir, "state.json")
        append(log, burst("10.0.0.1", 2))  # before the start: never counted by the first run
        s = log_monitor.parse_args(
            ["--log-file", log, "--state-file", state, "--window", "60", "--threshold", "3"]
        )
        alerts = []
        first = log_monitor.Monitor(s, alerts.append)
        first.poll_once(T0)
        append(log, burst("10.0.0.1", 1, T0 + 2) + burst("10.0.0.2", 3, T0 + 2))  # 10.0.0.2 alerts
        first.poll_once(T0 + 3)
        append(log, "".join(clf("192.0.2.9", T0 + 70 + i, "/index.html") for i in range(3)))
        first.poll_once(T0 + 73)  # 10.0.0.2's episode ends
        append(log, burst("10.0.0.2", 1, T0 + 80))  # one more request: no alert, no episode
        first.poll_once(T0 + 81)
        second = self.restart(first, s, alerts, T0 + 82)
        self.assertEqual(dict(second.detector.episodes), {})
        append(log, "".join(clf("192.0.2.9", T0 + 150 + i, "/index.html") for i in range(3)))
        second.poll_once(T0 + 153)
        append(log, burst("10.0.0.1", 3, T0 + 160))
        second.poll_once(T0 + 163)
        told = [(a.__class__.__name__, a.client) for a in alerts]
        self.assertEqual(told, [("Alert", "10.0.0.2"), ("Ended", "10.0.0.2"), ("Alert", "10.0.0.1")])
        self.assertEqual([a.repeat for a in alerts if a.__class__ is log_monitor.Alert], [1, 1])

    def test_what_a_restart_keeps_of_an_alert_flood_fits_a_state_file(self):
        detector = log_monitor.Detector.from_settings(log_monitor.Settings())
        for i in range(2100):  # more than are kept, the longest keys, more alerts each than are kept
            client = "2001:db8:%x:%x:%x:%x:%x:%x" % (i, i, i, i, i, i)
            detector.episodes[client] = [T0, T0 + 100, 10, 10, 0, 3]
            detector.history[client] = [T0 + k * 600 for k in range(20)]
        memory = detector.memory()
        self.assertEqual((len(memory["episodes"]), len(memory["alerts"])), (2000, 2000))
        self.assertLess(len(json.dumps(memory)), log_monitor.STATE_MAX_BYTES * 2 // 3)
        again = log_monitor.Detector.from_settings(log_monitor.Settings())
        again.recall(json.loads(json.dumps(memory)))
        self.assertEqual(len(again.ends), 2000)

    def test_what_a_restart_keeps_is_for_its_target_and_window_and_a_bad_row_is_refused(self):
        # before (the third review): a restart with another --target ended the old target's
        # episode as the new one's, and gave its first alert repeat 2
        detector = log_monitor.Detector.from_settings(log_monitor.Settings())
        detector.episodes["203.0.113.9"] = [T0, T0 + 10, 10, 10, 0, 1]
        detector.history["203.0.113.9"] = [T0 + 10]
        memory = json.loads(json.dumps(detector.memory()))
        for argv, kept in (([], 1), (["--target", "secret_page"], 0), (["--window", "60"], 0)):
            with self.subTest(argv=argv):
                again = log_monitor.Detector.from_settings(log_monitor.parse_args(argv))
                again.recall(memory)
                self.assertEqual((len(again.episodes), len(again.history)), (kept, kept))
        # a row whose client is no address (a state file written by hand) refuses the file
        path = os.path.join(self.dir, "state.json")
        for client in ("1.2.3.4\nSUSPICIOUS ACTIVITY: IP 6.6.6.6", "", "203.0.113.0/24", "2001:db8::/64"):
            with open(path, "w") as f:
                json.dump(
                    {"version": 2, "files": [], "log_time": T0, "episodes": [[client, T0, T0, 1, 1, 0, 1]]}, f
                )
            with self.subTest(client=client):
                if "/" in client:
                    self.assertEqual(log_monitor.read_state(path)["episodes"][0][0], client)
                else:
                    with self.assertRaises(ValueError):
                        log_monitor.read_state(path)


class FloodTest(TempDirTest):
    def test_client_flood_keeps_the_tables_bounded_and_finds_the_offender(self):
        # the shape of the million-client flood in bench/, scaled down: the offender's requests
        # are 2,000 new addresses apart, fewer than three quarters of the cap
        path = os.path.join(self.dir, "flood.log")
        write_flood(path, 20000)
        done = subprocess.run(
            script_argv(["--replay", path], {"MAX_TRACKED_IPS": 4000}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        alerts = [line for line in done.stdout.splitlines() if "SUSPICIOUS" in line]
        self.assertEqual(len(alerts), 1, alerts)
        self.assertTrue(alerts[0].endswith(EXPECTED % ("203.0.113.66", 10)), alerts)
        self.assertIn("distinct clients   at most 20001", done.stdout)
        self.assertIn("Tracking 4000 clients (MAX_TRACKED_IPS)", done.stderr)
