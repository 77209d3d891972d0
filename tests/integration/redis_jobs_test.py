"""FlaskppJobStore redis:// (issue 12): two private Apache instances share one Redis that this test
starts on a free loopback port (append-only file, fsync always, so a restart keeps what was
acknowledged; never a system Redis).

  redis_jobs_test.py MODULE_SO BUILD_DIR SOURCE_DIR   (BUILD_DIR/test-plugins/testplug.so: the job
                                                      t.sleep; SOURCE_DIR/conf/balancer-flaskpp.conf)

- A job posted through A is polled through B, and jobs run on both hosts' workers.
- Through a third Apache, the mod_proxy_balancer front of conf/balancer-flaskpp.conf as shipped:
  jobs posted and polled through it, the posts spread over both hosts, all done.
- kill -9 of B's whole process group while B's worker runs a job: the job's lease (3 s) expires
  and A runs it again to the end (done, attempts 2).
- Redis killed: posting answers 503 with Retry-After (nothing accepted), a status read 503, never
  a 500, at most one warning per child (FPP00032 or FPP00040); a job accepted before the outage is still there
  after Redis comes back and finishes; new posts are accepted again without an Apache restart.
"""
import os
import re
import shutil
import signal
import sys
import time
import unittest

import requests
from it_helpers import (COUNTED_ACCESS_LOG, TWO_CHILDREN_MPM, BalancerFront, PrivateApache, PrivateRedis,  # noqa: E402
                        answered, pid_alive, remove_unless_bad_lines, wait_until)

MODULE, BUILD, SOURCE = sys.argv[1], sys.argv[2], sys.argv[3]

CONF = """@HEAD@
@MPM@
ErrorLog "@ROOT@/logs/error_log"
LogLevel warn flaskpp:info
@ACCESS_LOG@FlaskppPlugin testplug "@BUILD@/test-plugins/testplug.so"
FlaskppRoute GET /health handler health
FlaskppRoute POST /t/jobs/sleep job t.sleep
FlaskppRoute GET /jobs/<uuid:id> job-status
FlaskppJobStore redis://127.0.0.1:@REDIS_PORT@/0
FlaskppJobLease 3s
FlaskppJobWorkers 2
FlaskppJobSpoolDir "@ROOT@/spool"
"""


class Instance(PrivateApache):
    def __init__(self, name, redis_port):
        super().__init__("redisjobs-" + name, dirs=("spool",), values={"REDIS_PORT": str(redis_port), "BUILD": BUILD})
        shutil.chown(os.path.join(self.root, "spool"), "www-data", "www-data")

    def conf_text(self):
        text = CONF.replace("@MPM@", TWO_CHILDREN_MPM).replace("@HEAD@", self.conf_head(["mpm_event", "authz_core"], MODULE))
        text = text.replace("@ACCESS_LOG@", COUNTED_ACCESS_LOG)
        for key, value in dict(self.values, ROOT=self.root).items():
            text = text.replace("@%s@" % key, value)
        return text

    def kill_all(self):
        """SIGKILL to the whole process group: parent and children at once, no cleanup."""
        pid = self.parent_pid()
        os.killpg(os.getpgid(pid), signal.SIGKILL)
        wait_until(lambda: not pid_alive(pid), 10)
        if os.path.exists(self.pidfile):
            os.remove(self.pidfile)


def post(inst, ms):
    return requests.post(inst.url("/t/jobs/sleep"), json={"ms": ms}, timeout=10)


def status(inst, job_id):
    return requests.get(inst.url("/jobs/" + job_id), timeout=10)


def wait_done(inst, job_id, timeout=30):
    last = {}

    def done():
        nonlocal last
        r = status(inst, job_id)
        last = r.json() if r.status_code == 200 else {"http": r.status_code}
        return last.get("status") in ("done", "failed", "cancelled")

    wait_until(done, timeout, step=0.1)
    return last


class RedisJobs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("redis-server"):
            raise AssertionError("redis-server is not installed (scripts/setup.sh installs it)")
        cls.redis = PrivateRedis(durable=True)
        cls.redis.start()
        cls.a = Instance("a", cls.redis.port)
        cls.b = Instance("b", cls.redis.port)
        cls.a.start()
        cls.b.start()

    @classmethod
    def tearDownClass(cls):
        for inst in (cls.a, cls.b):
            if inst.parent_pid():
                inst.stop()
        cls.redis.remove()
        # Provoked on purpose: the outage's warnings (a request's 503, a worker's claim, heartbeat,
        # progress or outcome), one per child per interval.
        remove_unless_bad_lines((cls.a, cls.b), r"\[flaskpp:warn\].*FPP000(32|40)")

    def test_a_posted_through_a_polled_through_b_run_by_both(self):
        posted = [post(self.a if i % 2 else self.b, 300) for i in range(12)]
        self.assertEqual([r.status_code for r in posted], [202] * 12)
        ids = [r.json()["id"] for r in posted]
        pids = set()
        for i, job_id in enumerate(ids):
            other = self.b if i % 2 else self.a  # polled through the host that did not take it
            final = wait_done(other, job_id)
            self.assertEqual(final.get("status"), "done", final)
            pids.add(final["result"]["pid"])
        a_pids, b_pids = self.a.children(), self.b.children()
        self.assertTrue(pids & a_pids and pids & b_pids, "both hosts' workers ran jobs: %s / %s / %s"
                        % (pids, a_pids, b_pids))

    def test_a2_posted_and_polled_through_the_balancer_front(self):
        front = BalancerFront("redisjobs-front", (self.a, self.b), MODULE, SOURCE)
        passed = False
        try:
            front.start()
            before = [answered(inst, "/t/jobs/sleep") for inst in (self.a, self.b)]
            posted = [post(front, 100) for _ in range(12)]
            self.assertEqual([r.status_code for r in posted], [202] * 12, [r.text for r in posted[:2]])

            def took():  # an access-log line is written after its answer has gone out
                return [answered(inst, "/t/jobs/sleep") - n for inst, n in zip((self.a, self.b), before)]

            wait_until(lambda: sum(took()) >= 12, 5)
            counts = took()
            self.assertEqual(sum(counts), 12)
            self.assertTrue(all(counts), "the front spread the posts over both hosts: %s" % counts)
            for r in posted:
                final = wait_done(front, r.json()["id"])
                self.assertEqual(final.get("status"), "done", final)
            passed = True
        finally:
            front.stop()
            if not passed:
                print("front kept for inspection: %s" % front.root)
        remove_unless_bad_lines((front,), r"^$")

    def test_b_a_job_running_on_b_when_b_is_killed_completes_on_a(self):
        # More jobs than one host has workers (2 children x 2), so both hosts take some.
        posted = [post(self.b, 6000) for _ in range(8)]
        ids = [r.json()["id"] for r in posted]
        b_children = self.b.children()
        on_b = None

        def running_on_b():
            nonlocal on_b
            for job_id in ids:
                j = status(self.a, job_id).json()
                m = re.search(r"pid (\d+)", (j.get("progress") or {}).get("message") or "")
                if j.get("status") == "running" and m and int(m.group(1)) in b_children:
                    on_b = job_id
                    return True
            return False

        self.assertTrue(wait_until(running_on_b, 15, step=0.1), "a job runs on B")
        self.b.kill_all()
        final = wait_done(self.a, on_b, timeout=40)
        self.assertEqual(final.get("status"), "done", final)
        self.assertEqual(final.get("attempts"), 2, "run again after the lease expired")
        self.assertIn(final["result"]["pid"], self.a.children(), "finished by A")
        self.assertEqual(final["result"]["attempt"], 2)
        for job_id in ids:
            self.assertEqual(wait_done(self.a, job_id, timeout=40).get("status"), "done")
        self.b.start()  # for the next test, on new ports

    def test_c_redis_down_503_then_back_with_nothing_lost(self):
        # Running when Redis dies: its heartbeat and progress fail meanwhile (FPP00040, provoked).
        before = post(self.a, 3000)
        self.assertEqual(before.status_code, 202)
        kept = before.json()["id"]
        self.assertTrue(wait_until(lambda: status(self.a, kept).json().get("status") == "running", 10))
        self.redis.kill()
        refused = [post(inst, 10) for inst in (self.a, self.b) for _ in range(10)]
        self.assertEqual([r.status_code for r in refused], [503] * 20, [r.text for r in refused[:2]])
        self.assertTrue(all(r.headers.get("Retry-After") for r in refused))
        self.assertEqual(status(self.a, kept).status_code, 503)
        time.sleep(0.3)
        for inst in (self.a, self.b):
            text = inst.log_text()
            self.assertEqual(re.findall(r"\[flaskpp:(?:error|crit)\].*", text), [], "no error line while Redis is down")
            # One warning per child for requests and workers together (FPP00032 or FPP00040).
            self.assertLessEqual(len(re.findall(r"\[flaskpp:warn\].*FPP000(32|40)", text)), 2,
                                 "one warning per child, not per request")
        self.redis.start()  # the same port and directory: the append-only file is replayed
        final = wait_done(self.a, kept, timeout=40)
        # Done either way: by its first run when that outlasted the outage (the replayed lease was
        # still its own), else by a second once the lease expired.
        self.assertEqual(final.get("status"), "done", "accepted before: not lost")
        self.assertIn(final.get("attempts"), (1, 2))
        self.assertTrue(wait_until(lambda: post(self.b, 10).status_code == 202, 10), "accepted again")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
