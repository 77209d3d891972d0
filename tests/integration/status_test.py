"""FlaskppStatus and `apachectl -t -D DUMP_ROUTES` on a private Apache of their own.

  status_test.py MODULE_SO SOURCE_DIR        (FLASKPP_TEST_PLUGINS: the built test plugins)

The instance (status_test.conf.in) runs three children of four threads. Traffic is sent
concurrently until at least two children have answered, and the page's counters (`?json`) must
then be exactly the numbers of answers sent, per route: hits, 4xx (a converter-rejected value),
5xx (a throwing handler), and 405/308 under "other". Also: the HTML page lists the routes
escaped, Require refuses the page (403), `FlaskppStatus Off`, quick-handler routes are counted,
a graceful restart starts new counters, and `-t -D DUMP_ROUTES` (and scripts/flaskpp-routes)
print the route table and exit 0.
"""
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

import requests
from it_helpers import GENERATION, HTTPD, PrivateApache, wait_until  # noqa: E402

BAD_LINE = re.compile(r"\[[a-z_0-9]*:(warn|error|crit|alert|emerg)\]|exit signal|Segmentation fault")
MODULE, SOURCE = sys.argv[1], sys.argv[2]
PLUGINS = os.environ.get("FLASKPP_TEST_PLUGINS", "")
PORT_NAMES = ["PORT", "PORT_DENIED", "PORT_OFF", "PORT_QUICK"]
# Provoked on purpose: the throwing handler's 500s, and the denied page (AH01630).
PROVOKED = re.compile(r"FPP00004: 500 for GET /s/throw:|AH01630: client denied by server configuration: "
                      r"flaskpp-status:/flaskpp-status")
PATTERNS = ["/health", "/s/pids", "/s/items/<int(min=1,max=100):n>", "/s/throw", "/s/only-post", "/s/dir/",
            "/s/<any(a,b):x>/x&y", "/s/go"]


class Instance(PrivateApache):
    def __init__(self):
        with open(os.path.join(SOURCE, "tests", "integration", "status_test.conf.in")) as f:
            template = f.read()
        # start() polls the page, not a route: it is not counted.
        super().__init__("status", template, dirs=("htdocs",), ports=PORT_NAMES,
                         values={"MODULE": MODULE, "PLUGINS": PLUGINS}, health="/flaskpp-status", stop_timeout=10)

    def bad_lines(self):
        return [l for l in self.log_text().splitlines() if BAD_LINE.search(l) and not PROVOKED.search(l)]


class Status(unittest.TestCase):
    inst = None

    @classmethod
    def setUpClass(cls):
        cls.inst = Instance()
        cls.inst.start()

    @classmethod
    def tearDownClass(cls):
        cls.inst.stop()
        bad = cls.inst.bad_lines()
        if bad:
            print("instance kept for inspection: %s" % cls.inst.root)
            raise AssertionError("unexpected warn/error lines in error_log:\n" + "\n".join(bad))
        shutil.rmtree(cls.inst.root, ignore_errors=True)

    def get(self, path, which="PORT", **kw):
        return requests.get(self.inst.url(path, which), timeout=10, allow_redirects=False, **kw)

    def status(self, which="PORT"):
        r = self.get("/flaskpp-status?json", which)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(r.headers["Content-Type"].startswith("application/json"))
        return r.json()

    def by_pattern(self, page):
        return {route["pattern"]: route for route in page["routes"]}

    def settled(self, which, pattern, hits):
        """The page once `pattern` has `hits` answers (counting ends just after the answer is sent)."""
        page = None

        def done():
            nonlocal page
            page = self.status(which)
            return self.by_pattern(page)[pattern]["hits"] >= hits
        wait_until(done, 5)
        return page

    def test_1_counters_are_exact_sums_over_children(self):
        inst = self.inst
        before = self.status()
        self.assertTrue(before["counting"])
        self.assertEqual([r["pattern"] for r in before["routes"]], PATTERNS)
        for route in before["routes"]:
            self.assertEqual((route["hits"], route["4xx"], route["5xx"], route["p50_us"]), (0, 0, 0, None), route)

        # Concurrent requests, each on its own connection, until two children or more have answered.
        pids, sent = set(), 0

        def pid_of(_):
            r = requests.get(inst.url("/s/pids"), timeout=10)
            self.assertEqual(r.status_code, 200)
            return r.json()["pid"]

        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            for _ in range(40):
                pids.update(pool.map(pid_of, range(48)))
                sent += 48
                if len(pids) >= 2:
                    break
        self.assertGreaterEqual(len(pids), 2, "every request went to one child: the test proves nothing")
        print("%d requests to /s/pids answered by %d children" % (sent, len(pids)))

        expected = {"/s/pids": (sent, 0, 0)}
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            ok = list(pool.map(lambda n: self.get("/s/items/%d" % (n % 100 + 1)).status_code, range(30)))
            rejected = list(pool.map(lambda n: self.get("/s/items/%d" % (101 + n)).status_code, range(7)))
            thrown = list(pool.map(lambda n: self.get("/s/throw").status_code, range(4)))
        self.assertEqual((set(ok), set(rejected), set(thrown)), ({200}, {404}, {500}))
        expected["/s/items/<int(min=1,max=100):n>"] = (37, 7, 0)
        expected["/s/throw"] = (4, 0, 4)
        for _ in range(5):
            self.assertEqual(self.get("/health").status_code, 200)
        for _ in range(2):  # automatic OPTIONS: an answer of that route
            self.assertEqual(requests.options(inst.url("/health"), timeout=10).status_code, 200)
        expected["/health"] = (7, 0, 0)
        self.assertEqual(self.get("/s/a/x&y").status_code, 200)
        self.assertEqual(self.get("/s/c/x&y").status_code, 404)  # any() refuses: no rule, Apache's 404
        expected["/s/<any(a,b):x>/x&y"] = (1, 0, 0)
        self.assertEqual(self.get("/s/go").status_code, 301)
        expected["/s/go"] = (1, 0, 0)
        # No single route: 405 (path matched, method not) and the trailing-slash 308.
        for _ in range(3):
            self.assertEqual(self.get("/s/only-post").status_code, 405)
        for _ in range(2):
            self.assertEqual(self.get("/s/dir").status_code, 308)
        expected["/s/only-post"] = (0, 0, 0)
        expected["/s/dir/"] = (0, 0, 0)

        page = self.settled("PORT", "/s/pids", sent)
        time.sleep(0.2)  # any answer still being counted would show now
        page = self.status()
        routes = self.by_pattern(page)
        for pattern, (hits, c4, c5) in expected.items():
            route = routes[pattern]
            self.assertEqual((route["hits"], route["4xx"], route["5xx"]), (hits, c4, c5), pattern)
            if hits:
                self.assertIsInstance(route["p50_us"], int, pattern)
                self.assertLessEqual(route["p50_us"], route["p99_us"], pattern)
                self.assertGreaterEqual(route["p50_us"], 10, pattern)
            else:
                self.assertIsNone(route["p50_us"], pattern)
                self.assertIsNone(route["p99_us"], pattern)
        other = page["other"]
        self.assertEqual((other["hits"], other["4xx"], other["5xx"]), (5, 3, 0))
        self.assertEqual(page["server"], "127.0.0.1:%d" % inst.ports["PORT"])
        # Other configurations count apart: the quick host's routes saw nothing.
        quick = self.status("PORT_QUICK")
        self.assertEqual(sum(r["hits"] for r in quick["routes"]) + quick["other"]["hits"], 0)
        # The statistics were set up once, in the parent, and the log says how big they are: a slot
        # per route and one for other answers, per configuration. The denied host has no Flaskpp
        # directive, so Apache gives it the main server's configuration (and so its counters);
        # the Off and quick hosts have their own: 3 x (8 + 1).
        self.assertEqual(len(re.findall(r"FPP00056: mod_flaskpp: route statistics for FlaskppStatus: 27 slot",
                                        inst.log_text())), 1, inst.log_text())

    def test_2_html_page_lists_the_routes_escaped(self):
        r = self.get("/flaskpp-status")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers["Content-Type"], "text/html; charset=utf-8")
        self.assertEqual(r.headers.get("Cache-Control"), "no-store")
        html = r.text
        self.assertIn("<!DOCTYPE html>", html)
        self.assertIn("<code>/s/items/&lt;int(min=1,max=100):n&gt;</code>", html)
        self.assertIn("<code>/s/&lt;any(a,b):x&gt;/x&amp;y</code>", html)
        self.assertIn("<td>handler</td><td>t.pids</td>", html)
        self.assertIn("<td>redirect</td><td>/health</td><td>301</td>", html)
        self.assertNotIn("<int(", html)
        for pattern in PATTERNS:
            self.assertIn(pattern.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), html)
        # HEAD: the headers only; other methods: 405.
        head = requests.head(self.inst.url("/flaskpp-status"), timeout=10)
        self.assertEqual((head.status_code, head.content), (200, b""))
        post = requests.post(self.inst.url("/flaskpp-status"), data="x", timeout=10)
        self.assertEqual(post.status_code, 405)
        self.assertIn("GET", post.headers.get("Allow", ""))

    def test_3_require_refuses_the_page(self):
        r = self.get("/flaskpp-status?json", "PORT_DENIED")
        self.assertEqual(r.status_code, 403)
        self.assertNotIn("hits", r.text)
        # The host's routes still answer: only the page is refused.
        self.assertEqual(self.get("/health", "PORT_DENIED").status_code, 200)

    def test_4_off_in_a_virtual_host(self):
        r = self.get("/flaskpp-status", "PORT_OFF")
        self.assertEqual(r.status_code, 404)
        self.assertNotIn("mod_flaskpp status", r.text)

    def test_5_quick_handler_answers_are_counted(self):
        for n in range(6):
            self.assertEqual(self.get("/s/items/%d" % (n + 1), "PORT_QUICK").status_code, 200)
        self.assertEqual(self.get("/s/items/0", "PORT_QUICK").status_code, 404)
        page = self.settled("PORT_QUICK", "/s/items/<int(min=1,max=100):n>", 7)
        items = self.by_pattern(page)["/s/items/<int(min=1,max=100):n>"]
        self.assertEqual((items["hits"], items["4xx"]), (7, 1))
        self.assertEqual(page["server"], "127.0.0.1:%d" % self.inst.ports["PORT_QUICK"])

    def test_6_dump_routes(self):
        res = self.inst.httpd("-t", "-D", "DUMP_ROUTES")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("Syntax OK", res.stderr)
        out = res.stdout
        self.assertIn("mod_flaskpp route table:", out)
        main = "127.0.0.1 (main server): 8 route(s)"
        self.assertIn(main, out)
        for name in ("PORT_DENIED", "PORT_OFF", "PORT_QUICK"):
            self.assertRegex(out, r"127\.0\.0\.1:%d \(virtual host, %s:\d+\): 8 route\(s\)"
                             % (self.inst.ports[name], re.escape(self.inst.conf)))
        self.assertRegex(out, r"\n    GET +/s/items/<int\(min=1,max=100\):n> +handler echo  # %s:\d+\n"
                         % re.escape(self.inst.conf))
        self.assertRegex(out, r"\n    GET +/s/go +redirect /health 301  # ")
        self.assertRegex(out, r"\n    POST +/s/only-post +handler echo  # ")
        self.assertEqual(out.count("(FlaskppStatus /flaskpp-status)"), 3)  # not on the Off host
        # Without the define, -t prints no table; the wrapper script prints the same one.
        plain = self.inst.httpd("-t")
        self.assertEqual((plain.returncode, plain.stdout), (0, ""))
        script = subprocess.run([os.path.join(SOURCE, "scripts", "flaskpp-routes"), self.inst.conf],
                                capture_output=True, text=True)
        self.assertEqual(script.returncode, 0, script.stderr)
        self.assertEqual(script.stdout, out)
        broken = os.path.join(self.inst.root, "broken.conf")
        with open(broken, "w") as f:
            f.write(open(self.inst.conf).read() + "\nFlaskppRoute GET /x/<nope:y> handler echo\n")
        bad = subprocess.run([os.path.join(SOURCE, "scripts", "flaskpp-routes"), broken], capture_output=True,
                             text=True)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("FlaskppRoute", bad.stderr)
        # A path Apache would never hand over is refused at startup, naming the directive.
        for value in ("flaskpp-status", "/a//b", "/a/../b", "/s?x", "/a/."):
            with open(broken, "w") as f:
                f.write(open(self.inst.conf).read().replace("FlaskppStatus /flaskpp-status",
                                                            "FlaskppStatus %s" % value))
            res = subprocess.run([HTTPD, "-f", broken, "-t"], capture_output=True, text=True)
            self.assertNotEqual(res.returncode, 0, value)
            self.assertIn("FlaskppStatus: '%s' must be a plain URL path" % value, res.stderr)

    def test_7_graceful_restart_starts_new_counters(self):
        inst = self.inst
        before = self.status()
        self.assertGreater(self.by_pattern(before)["/health"]["hits"], 0)
        generations = inst.log_text().count(GENERATION)
        time.sleep(1.1)  # "since" has a resolution of a second
        self.assertEqual(inst.httpd("-k", "graceful").returncode, 0)
        self.assertTrue(wait_until(lambda: inst.log_text().count(GENERATION) > generations, 20))

        def fresh():
            try:
                return self.status()["since"] > before["since"]
            except (requests.RequestException, AssertionError):
                return False
        self.assertTrue(wait_until(fresh, 20), "no new counters after -k graceful")
        self.assertEqual(self.get("/health").status_code, 200)
        page = self.settled("PORT", "/health", 1)
        self.assertEqual(self.by_pattern(page)["/health"]["hits"], 1)
        self.assertEqual(self.by_pattern(page)["/s/pids"]["hits"], 0)


if __name__ == "__main__":
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(Status)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() and result.testsRun else 1)
