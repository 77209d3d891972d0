"""FlaskppRateLimitCache redis:// (issue 12): two private Apache instances share one Redis that
this test starts on a free loopback port (never a system one).

  redis_limits_test.py MODULE_SO SOURCE_DIR

- One limit of 30 holds across both instances: 240 concurrent requests spread over A and B, each
  on a new connection, and exactly 30 are answered 200, by both instances, the rest 429.
- Redis killed: A (fail=open) serves the limited route unlimited, B (fail=closed) answers 503
  with Retry-After; never a 500; one FPP00036 warning per child at the most.
- Redis started again on the same port: both limit again within seconds, with no Apache restart.
- Through a third Apache, the mod_proxy_balancer front of conf/balancer-flaskpp.conf as shipped
  (the backends with its mod_remoteip lines): 100 requests, both backends answer, exactly 20 pass.
"""
import concurrent.futures
import os
import re
import shutil
import sys
import time
import unittest

import requests
from it_helpers import (COUNTED_ACCESS_LOG, TWO_CHILDREN_MPM, BalancerFront, PrivateApache, PrivateRedis,  # noqa: E402
                        answered, modules_dir, remove_unless_bad_lines, wait_until)

MODULE, SOURCE = sys.argv[1], sys.argv[2]
FRONT_LIMIT = 20
LIMIT = 30

CONF = """@HEAD@
@MPM@
KeepAlive Off
ErrorLog "@ROOT@/logs/error_log"
LogLevel warn flaskpp:info
@ACCESS_LOG@# What conf/balancer-flaskpp.conf asks of its backends: the client's address from the front.
LoadModule remoteip_module @MODULES_DIR@/mod_remoteip.so
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.1
FlaskppRoute GET /health handler health
FlaskppRoute GET /limited handler health
FlaskppRateLimit /limited "@LIMIT@/hour"
FlaskppRoute GET /via-front handler health
FlaskppRateLimit /via-front "@FRONT_LIMIT@/hour"
FlaskppRoute GET /probe handler health
FlaskppRateLimit /probe "1000000/hour"
FlaskppRateLimitCache redis://127.0.0.1:@REDIS_PORT@/0 @FAIL@
"""


class Instance(PrivateApache):
    def __init__(self, name, redis_port, fail):
        super().__init__("redis-" + name, conf=None, values={"REDIS_PORT": str(redis_port), "FAIL": fail,
                                                              "LIMIT": str(LIMIT), "FRONT_LIMIT": str(FRONT_LIMIT)})

    def conf_text(self):
        head = self.conf_head(["mpm_event", "authz_core"], MODULE)
        text = CONF.replace("@MPM@", TWO_CHILDREN_MPM).replace("@HEAD@", head).replace("@ACCESS_LOG@", COUNTED_ACCESS_LOG)
        for key, value in dict(self.values, ROOT=self.root, MODULES_DIR=modules_dir()).items():
            text = text.replace("@%s@" % key, value)
        return text


def get(inst, path="/limited"):
    return requests.get(inst.url(path), timeout=10)


class RedisLimits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("redis-server"):
            raise AssertionError("redis-server is not installed (scripts/setup.sh installs it)")
        cls.redis = PrivateRedis()
        cls.redis.start()
        cls.a = Instance("a", cls.redis.port, "fail=open")
        cls.b = Instance("b", cls.redis.port, "fail=closed")
        cls.a.start()
        cls.b.start()
        cls.front = BalancerFront("redis-front", (cls.a, cls.b), MODULE, SOURCE)
        cls.front.start()

    @classmethod
    def tearDownClass(cls):
        for inst in (cls.front, cls.a, cls.b):
            inst.stop()
        cls.redis.remove()
        remove_unless_bad_lines((cls.front, cls.a, cls.b), r"FPP00036: rate limit store failed")

    def test_a_one_limit_holds_across_two_instances(self):
        jobs = [self.a if i % 2 else self.b for i in range(240)]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda inst: (inst, get(inst)), jobs))
        statuses = [r.status_code for _, r in answers]
        self.assertEqual(statuses.count(200), LIMIT, "exactly the limit passes across both hosts")
        self.assertEqual(statuses.count(429), 240 - LIMIT)
        passed_by = {inst.root for inst, r in answers if r.status_code == 200}
        self.assertEqual(len(passed_by), 2, "both instances let some through")
        for _, r in answers:
            self.assertEqual(r.headers.get("X-RateLimit-Limit"), str(LIMIT))
        remaining = sorted(int(r.headers["X-RateLimit-Remaining"]) for _, r in answers if r.status_code == 200)
        self.assertEqual(remaining, list(range(LIMIT)), "each passing hit saw its own count, over both hosts")

    def test_b_redis_down_fail_open_and_closed_then_back(self):
        self.redis.kill()
        open_answers = [get(self.a) for _ in range(20)]
        closed_answers = [get(self.b) for _ in range(20)]
        self.assertEqual([r.status_code for r in open_answers], [200] * 20, "fail=open serves unlimited")
        self.assertTrue(all("X-RateLimit-Limit" not in r.headers for r in open_answers))
        self.assertEqual([r.status_code for r in closed_answers], [503] * 20, "fail=closed refuses")
        self.assertTrue(all(r.headers.get("Retry-After") for r in closed_answers))
        self.assertEqual(get(self.a, "/health").status_code, 200, "unlimited routes are untouched")
        time.sleep(0.3)
        for inst in (self.a, self.b):
            warnings = re.findall(r"FPP00036: rate limit store failed", inst.log_text())
            self.assertGreaterEqual(len(warnings), 1, inst.log_text())
            self.assertLessEqual(len(warnings), 2, "one warning per child (2 children), not per request")
            self.assertNotIn("[flaskpp:error]", inst.log_text())

        self.redis.start()  # the same port, empty: the counters start again
        # Each child notices on its own, within its one-second fail-fast back-off: wait until ten
        # requests in a row (new connections, so both children) are limited again. Probed on a
        # route of its own, so the probes do not spend /limited's 30.
        self.assertTrue(wait_until(lambda: all("X-RateLimit-Limit" in get(self.a, "/probe").headers
                                               for _ in range(10)), 10), "A limits again without a restart")
        self.assertTrue(wait_until(lambda: all(get(self.b, "/probe").status_code == 200 for _ in range(10)), 10),
                        "B serves again without a restart")
        r = get(self.b)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers.get("X-RateLimit-Limit"), str(LIMIT))

    def test_c_one_limit_through_the_balancer_front(self):
        answers = [get(self.front, "/via-front") for _ in range(100)]
        statuses = [r.status_code for r in answers]
        self.assertEqual(statuses.count(200), FRONT_LIMIT, "exactly the limit passes through the front")
        self.assertEqual(statuses.count(429), 100 - FRONT_LIMIT)
        time.sleep(0.3)  # the access logs are written after the answers
        counts = [answered(inst, "/via-front") for inst in (self.a, self.b)]
        self.assertEqual(sum(counts), 100)
        self.assertTrue(all(c >= 30 for c in counts), "the front spread the requests: %s" % counts)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
