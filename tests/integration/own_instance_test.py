"""Tests that need a private Apache of their own (not the shared "apache" fixture instance).

  own_instance_test.py MODULE_SO SOURCE_DIR GracefulRestart|VhostInheritance

Each class generates its own instance from own_instance.conf.in (own ServerRoot under /var/tmp,
own ports, PidFile, runtime dir, mutexes, error_log), starts it, runs its tests and stops it.
GracefulRestart: `-k graceful` (twice) and `-k restart` keep the routes answering with the same
bytes and the error_log clean, requests in flight during a graceful restart complete, and `-k stop`
closes the ports. VhostInheritance: what the four virtual hosts of the config inherit.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import requests
from it_helpers import GENERATION, PrivateApache, port_open, wait_until  # noqa: E402

BAD_LINE = re.compile(r"\[[a-z_0-9]*:(warn|error|crit|alert|emerg)\]|exit signal|Segmentation fault")
MODULE, SOURCE = sys.argv[1], sys.argv[2]
PLUGINS = os.environ.get("FLASKPP_TEST_PLUGINS", "")

TEMPLATES = {
    "tpl-main/show.html": '<p id="tpl">main template</p>\n<p id="site">{{config.SITE}}</p>\n'
                          '<p id="color">{{config.COLOR}}</p>\n<p id="env">{{env}}</p>\n'
                          '<p id="ENV">{{config.ENV}}</p>\n',
    "tpl-main/item.html": '<p id="item">main item {{id}}</p>\n',
    "tpl-main/404.html": '<h1 id="error">main {{code}}</h1>\n',
    "tpl-vhost/show.html": '<p id="tpl">vhost template</p>\n<p id="site">{{config.SITE}}</p>\n'
                           '<p id="color">{{config.COLOR}}</p>\n<p id="env">{{env}}</p>\n'
                           '<p id="ENV">{{config.ENV}}</p>\n',
    "tpl-vhost/item.html": '<p id="item">vhost item {{id}}</p>\n',
    "tpl-main/session.html": '<p id="user">{{session.user}}</p>\n'
                             '{{#flashes}}<p class="flash {{category}}">{{message}}</p>{{/flashes}}\n',
    "tpl-vhost/404.html": '<h1 id="error">vhost {{code}}</h1>\n',
}
PORT_NAMES = ["PORT", "PORT_INHERIT", "PORT_ADD", "PORT_OVERRIDE", "PORT_PLAIN", "DEAD_PORT"]


class Instance(PrivateApache):
    """A private Apache: generated from own_instance.conf.in + EXTRA_CONF, started, restarted, stopped."""

    def __init__(self, extra_conf=""):
        with open(os.path.join(SOURCE, "tests", "integration", "own_instance.conf.in")) as f:
            template = f.read()
        super().__init__("own", template + extra_conf, dirs=("htdocs", "tpl-main", "tpl-vhost", "plugin"),
                         ports=PORT_NAMES, values={"MODULE": MODULE}, stop_timeout=10)
        self.extra_conf = extra_conf
        shutil.copy(os.path.join(PLUGINS, "reload_v1.so"), os.path.join(self.root, "plugin", "reload.so"))
        for name, text in TEMPLATES.items():
            with open(os.path.join(self.root, name), "w") as f:
                f.write(text)
        subprocess.run(["chmod", "-R", "a+rX", self.root], check=True)

    def bad_lines(self, start):
        return [line for line in self.log_text(start).splitlines() if BAD_LINE.search(line)]


class OwnInstanceTest(unittest.TestCase):
    inst = None
    provoked = None  # a regex of warn/error lines a suite provokes on purpose
    extra_conf = ""  # appended to own_instance.conf.in (main server scope)

    @classmethod
    def setUpClass(cls):
        cls.inst = Instance(cls.extra_conf)
        cls.inst.start()

    @classmethod
    def tearDownClass(cls):
        inst = cls.inst
        inst.stop()
        unexpected = [l for l in inst.bad_lines(0) if not (cls.provoked and cls.provoked.search(l))]
        if not unexpected:
            inst.remove()
            return
        print("instance kept for inspection: %s" % inst.root)
        # A warn/error line nobody provoked fails the suite, as the shared fixture's check does.
        raise AssertionError("warn/error lines not provoked on purpose in %s:\n%s" % (inst.log, "\n".join(unexpected[:10])))

    def setUp(self):
        self.log_start = self.inst.log_size()

    def assertLogClean(self):
        self.assertEqual(self.inst.bad_lines(self.log_start), [], "warn/error lines in %s" % self.inst.log)

    def get(self, path, which="PORT", **kw):
        return requests.get(self.inst.url(path, which), timeout=10, **kw)


class GracefulRestart(OwnInstanceTest):
    PAGES = [("/health", "PORT"), ("/show", "PORT"), ("/item/3", "PORT"), ("/echo/x", "PORT"),
             ("/show", "PORT_OVERRIDE"), ("/own/y", "PORT_ADD"), ("/no/such", "PORT")]

    def snapshot(self):
        out = {}
        for path, which in self.PAGES:
            r = self.get(path, which, headers={"User-Agent": "own-instance-test"})
            out[(path, which)] = (r.status_code, r.headers.get("Content-Type"), r.content)
        return out

    def restart(self, how):
        """Runs `-k how`, waits for the new generation (parent logs it, new children appear)."""
        inst = self.inst
        generations, children, parent = inst.generations(), inst.children(), inst.parent_pid()
        self.assertTrue(children, "no children before %s" % how)
        res = inst.httpd("-k", how)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertTrue(wait_until(lambda: inst.generations() > generations, 20),
                        "no new '%s' line after -k %s" % (GENERATION, how))
        self.assertTrue(wait_until(lambda: inst.children() - children, 20), "no new children after -k %s" % how)
        self.assertEqual(inst.parent_pid(), parent, "-k %s keeps the parent" % how)
        self.assertTrue(wait_until(inst.answers, 20), "no answer after -k %s" % how)

    def test_1_graceful_twice_then_restart_keep_answers_identical(self):
        before = self.snapshot()
        self.assertEqual(before[("/health", "PORT")][0], 200)
        self.assertEqual(before[("/health", "PORT")][2], b'{"status":"ok"}\n')
        self.assertIn(b"main template", before[("/show", "PORT")][2])
        self.assertEqual(before[("/no/such", "PORT")][0], 404)
        for how in ("graceful", "graceful", "restart"):
            self.restart(how)
            after = self.snapshot()
            for key in before:
                self.assertEqual(after[key], before[key], "%s differs after -k %s" % (key, how))
        self.assertEqual(self.inst.generations(), 4)
        self.assertLogClean()

    def test_2_requests_in_flight_during_graceful_complete(self):
        body = os.path.join(self.inst.root, "slow-body")
        with open(body, "wb") as f:
            f.write(b"x" * 400000)
        # Four uploads of 400 kB at 100 kB/s: about 4 s each, so the restart happens under them.
        slow = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--limit-rate", "100k",
                                  "-H", "Content-Type: text/plain", "-H", "Expect:", "--data-binary", "@" + body,
                                  self.inst.url("/slow")], stdout=subprocess.PIPE, text=True) for _ in range(4)]
        # And short requests, each on a new connection, all through the restart.
        statuses, stop = [], threading.Event()

        def hammer():
            while not stop.is_set():
                try:
                    statuses.append(requests.get(self.inst.url("/echo/z"), timeout=10).status_code)
                except requests.RequestException as e:
                    statuses.append(repr(e))

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        self.restart("graceful")
        # The new generation answers while the old one still serves the uploads.
        in_flight = sum(p.poll() is None for p in slow)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join()
        codes = [p.communicate(timeout=60)[0] for p in slow]
        self.assertEqual(in_flight, 4, "the uploads should outlast the restart (else the test proves nothing)")
        self.assertEqual(codes, ["200"] * 4, "uploads in flight during -k graceful")
        self.assertGreater(len(statuses), 10)
        self.assertEqual([s for s in statuses if s != 200], [], "short requests during -k graceful")
        self.assertLogClean()

    def test_3_stop_closes_the_ports(self):
        inst = self.inst
        pid = inst.stop()
        self.assertIsNotNone(pid)
        self.assertFalse(os.path.exists("/proc/%d" % pid), "the parent is gone")
        for which in PORT_NAMES:
            self.assertTrue(wait_until(lambda: not port_open(inst.ports[which]), 10), "%s still open" % which)
        self.assertLogClean()


class SignalsWithoutTheKey(OwnInstanceTest):
    """`apache2 -k graceful|stop` only signals the running parent, which reads FlaskppSecretKey
    env: from its own environment: the signalling shell need not have the variable; starting or
    `-t` without it is still refused."""

    def signal(self, *args):
        env = {k: v for k, v in os.environ.items() if k != "FLASKPP_OWN_SECRET"}
        return self.inst.httpd(*args, env=env)

    def test_graceful_and_stop_without_the_variable(self):
        before = self.inst.generations()
        res = self.signal("-k", "graceful")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertTrue(wait_until(lambda: self.inst.generations() > before, 20), self.inst.log_text())
        self.assertTrue(wait_until(self.inst.answers, 10))
        res = self.signal("-t")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("FLASKPP_OWN_SECRET is not in Apache's environment", res.stderr)
        pid = self.inst.parent_pid()
        res = self.signal("-k", "stop")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertTrue(wait_until(lambda: not os.path.exists("/proc/%d" % pid), 10))
        self.assertLogClean()


class VhostInheritance(OwnInstanceTest):
    def page(self, path, which):
        r = self.get(path, which)
        return r.status_code, r.text

    def test_main_server(self):
        status, text = self.page("/show", "PORT")
        self.assertEqual(status, 200)
        self.assertEqual(text, '<p id="tpl">main template</p>\n<p id="site">main site</p>\n'
                               '<p id="color">blue</p>\n<p id="env">production</p>\n<p id="ENV">production</p>\n')
        self.assertEqual(self.page("/both", "PORT"), (200, '{"status":"ok"}\n'))
        self.assertEqual(self.page("/item/4", "PORT"), (200, '<p id="item">main item 4</p>\n'))
        # The add host's own routes are not the main server's: Apache's 404, with the main 404 page.
        self.assertEqual(self.page("/own/x", "PORT"), (404, '<h1 id="error">main 404</h1>\n'))
        self.assertLogClean()

    def check_inherits_everything(self, which):
        main = self.get("/show", "PORT")
        r = self.get("/show", which)
        self.assertEqual((r.status_code, r.headers["Content-Type"], r.content),
                         (main.status_code, main.headers["Content-Type"], main.content))
        self.assertEqual(self.get("/health", which).json(), {"status": "ok"})
        echo = self.get("/echo/abc?q=1", which).json()
        self.assertEqual((echo["path"], echo["params"], echo["args"]), ("/echo/abc", {"name": "abc"}, {"q": ["1"]}))
        self.assertEqual(self.page("/item/7", which), (200, '<p id="item">main item 7</p>\n'))
        self.assertEqual(self.page("/no/such", which), (404, '<h1 id="error">main 404</h1>\n'))
        self.assertEqual(self.get("/own/x", which).status_code, 404)

    def test_a_inherits_everything(self):
        self.check_inherits_everything("PORT_INHERIT")
        self.assertLogClean()

    def test_b_adds_routes_after_the_main_servers(self):
        own = self.get("/own/bob?k=v", "PORT_ADD").json()
        self.assertEqual((own["method"], own["path"], own["params"]), ("GET", "/own/bob", {"name": "bob"}))
        # Declared in both, same weight: the main server's route comes first and wins.
        self.assertEqual(self.page("/both", "PORT_ADD"), (200, '{"status":"ok"}\n'))
        self.assertEqual(self.page("/item/5", "PORT_ADD"), (200, '<p id="item">main item 5</p>\n'))
        # Everything else is inherited.
        self.assertEqual(self.page("/show", "PORT_ADD"), self.page("/show", "PORT"))
        self.assertEqual(self.page("/no/such", "PORT_ADD"), (404, '<h1 id="error">main 404</h1>\n'))
        self.assertLogClean()

    def test_c_overrides_env_template_dir_and_config_keys(self):
        status, text = self.page("/show", "PORT_OVERRIDE")
        self.assertEqual(status, 200)
        # SITE inherited, COLOR overridden, env and config.ENV from FlaskppEnv development.
        self.assertEqual(text, '<p id="tpl">vhost template</p>\n<p id="site">main site</p>\n'
                               '<p id="color">red</p>\n<p id="env">development</p>\n<p id="ENV">development</p>\n')
        self.assertEqual(self.page("/item/6", "PORT_OVERRIDE"), (200, '<p id="item">vhost item 6</p>\n'))
        # The inherited error template name, loaded from the host's own template directory.
        self.assertEqual(self.page("/no/such", "PORT_OVERRIDE"), (404, '<h1 id="error">vhost 404</h1>\n'))
        self.assertEqual(self.get("/health", "PORT_OVERRIDE").json(), {"status": "ok"})
        # Development re-reads a changed template; the main server keeps its startup copy.
        path = os.path.join(self.inst.root, "tpl-vhost", "item.html")
        with open(path, "w") as f:
            f.write('<p id="item">vhost item v2 {{id}}</p>\n')
        os.utime(path, (time.time() + 5, time.time() + 5))
        self.assertEqual(self.page("/item/6", "PORT_OVERRIDE"), (200, '<p id="item">vhost item v2 6</p>\n'))
        self.assertEqual(self.page("/item/6", "PORT"), (200, '<p id="item">main item 6</p>\n'))
        self.assertLogClean()

    def test_d_no_flaskpp_directive_still_serves_the_main_routes(self):
        self.check_inherits_everything("PORT_PLAIN")
        self.assertLogClean()

    def test_startup_log_is_clean(self):
        # No FPP00002 (a template the merged configuration names but cannot load) for any host.
        self.assertEqual(self.inst.bad_lines(0), [])
        self.assertEqual(self.inst.log_text().count("FPP00001: mod_flaskpp ready"), 5, self.inst.log_text())


class JobQueueFull(OwnInstanceTest):
    provoked = re.compile(r"FPP00034: 503 for POST /job")

    def test_a_full_queue_answers_503_with_retry_after_and_drops_nothing(self):
        ids = []
        for _ in range(3):
            r = requests.post(self.inst.url("/job"), json={"n": 1}, timeout=10)
            self.assertEqual(r.status_code, 202, r.text)
            ids.append(r.json()["id"])
        start = self.inst.log_size()
        r = requests.post(self.inst.url("/job"), json={"n": 4}, timeout=10)
        self.assertEqual(r.status_code, 503, r.text)
        self.assertEqual(r.headers.get("Retry-After"), "5")
        self.assertEqual(r.json()["error"]["code"], 503)
        self.assertIn("queue is full", r.json()["error"]["message"])
        # One warning (not an error) names the refusal; the accepted jobs are still queued.
        log = self.inst.log_text(start)
        self.assertEqual(len(re.findall(r"\[flaskpp:warn\].*FPP00034: 503 for POST /job", log)), 1, log)
        for job_id in ids:
            self.assertEqual(self.get("/jobs/" + job_id).json()["status"], "queued")


class PluginReload(OwnInstanceTest):
    def test_graceful_restart_loads_a_rebuilt_plugin_without_a_failed_request(self):
        self.assertEqual(self.get("/version").json(), {"version": 1})
        statuses, versions, stop = [], set(), threading.Event()

        # A new connection per request: an idle keep-alive connection that the old generation
        # closes is a client-side retry (as browsers do for GET), not a failed request.
        def hammer():
            while not stop.is_set():
                try:
                    r = requests.get(self.inst.url("/version"), timeout=10)
                    statuses.append(r.status_code)
                    if r.status_code == 200:
                        versions.add(r.json()["version"])
                except requests.RequestException as e:
                    statuses.append(repr(e))

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        # The rebuilt plugin is installed as a new file (a new inode), as the README says.
        fresh = os.path.join(self.inst.root, "plugin", "reload.so.new")
        shutil.copy(os.path.join(PLUGINS, "reload_v2.so"), fresh)
        os.rename(fresh, os.path.join(self.inst.root, "plugin", "reload.so"))
        generations = self.inst.generations()
        self.assertEqual(self.inst.httpd("-k", "graceful").returncode, 0)
        self.assertTrue(wait_until(lambda: self.inst.generations() > generations, 20))
        self.assertTrue(wait_until(lambda: self.get("/version").json() == {"version": 2}, 20))
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        failed = [s for s in statuses if s != 200]
        print("requests during the reload: %d, failed: %d" % (len(statuses), len(failed)))
        self.assertGreater(len(statuses), 100)
        self.assertEqual(failed, [], "requests during the plugin reload")
        self.assertEqual(versions, {1, 2})
        self.assertLogClean()


def avoid_window_edge(period, margin=20):
    """Waits until a fixed window of `period` seconds has at least `margin` seconds left, so a test
    counting hits in one window never straddles two."""
    left = period - time.time() % period
    if left < margin:
        time.sleep(left + 0.5)


RATE_LIMIT_CONF = r"""
LoadModule socache_memcache_module @MODULES_DIR@/mod_socache_memcache.so
LoadModule unique_id_module @MODULES_DIR@/mod_unique_id.so
ErrorLogFormat "[%{u}t] [%-m:%l] [pid %P] [id %L] %M"
LogFormat "%P %>s %U %L" pids
CustomLog "@ROOT@/logs/access_log" pids
FlaskppRoute GET /limited handler health
FlaskppRateLimit /limited "100/hour"
FlaskppRoute GET /limited-ip/<int:n> handler echo
FlaskppRateLimit /limited-ip/<int:n> "5 per hour"
FlaskppRoute GET /limited-key handler health
FlaskppRateLimit /limited-key "3/hour" key=header:X-Api-Key
FlaskppRoute GET /limited-page template show.html
FlaskppRateLimit /limited-page "1/hour"
FlaskppRoute POST /limited-upload handler echo
FlaskppRateLimit /limited-upload "1/hour"
FlaskppRoute GET /limited-json/<int:n> handler echo
FlaskppRateLimit /limited-json/<int:n> "2/hour"
FlaskppRoute GET /limited-log handler echo
FlaskppRateLimit /limited-log "1/hour"
"""


class RateLimits(OwnInstanceTest):
    """FlaskppRateLimit across the processes of one server, counters in the module's shm table."""
    extra_conf = RATE_LIMIT_CONF

    def test_a_exactly_n_of_m_concurrent_requests_pass_across_processes(self):
        avoid_window_edge(3600)
        statuses, headers = [], []
        lock = threading.Lock()

        def client():
            for _ in range(50):  # a new connection per request: spread over the children
                r = requests.get(self.inst.url("/limited"), timeout=10)
                with lock:
                    statuses.append(r.status_code)
                    headers.append(r.headers)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(statuses), 400)
        self.assertEqual(statuses.count(200), 100, "exactly the limit passes")
        self.assertEqual(statuses.count(429), 300)
        for h in headers:
            self.assertEqual(h["X-RateLimit-Limit"], "100")
            self.assertIn("X-RateLimit-Reset", h)
        refused = [h for h, s in zip(headers, statuses) if s == 429]
        self.assertTrue(all(h["X-RateLimit-Remaining"] == "0" for h in refused))
        self.assertTrue(all(0 < int(h["Retry-After"]) <= 3600 for h in refused))
        remaining = sorted(int(h["X-RateLimit-Remaining"]) for h, s in zip(headers, statuses) if s == 200)
        self.assertEqual(remaining, list(range(100)), "each passing hit saw its own count")
        with open(os.path.join(self.inst.root, "logs", "access_log")) as f:
            pids = {line.split()[0] for line in f if line.split()[2] == "/limited"}
        print("children that answered /limited: %d" % len(pids))
        self.assertGreaterEqual(len(pids), 2, "the requests were spread over several processes")
        # 429s are a client's excess: logged at info, nothing at warn or above.
        self.assertLogClean()

    def test_b_clients_are_counted_apart_by_address(self):
        import http.client
        avoid_window_edge(3600)

        def status(source):
            c = http.client.HTTPConnection("127.0.0.1", self.inst.ports["PORT"], timeout=10,
                                           source_address=(source, 0))
            c.request("GET", "/limited-ip/1")
            r = c.getresponse()
            r.read()
            c.close()
            return r.status

        first = [status("127.0.0.1") for _ in range(7)]
        second = [status("127.0.0.2") for _ in range(7)]
        self.assertEqual(first, [200] * 5 + [429] * 2)
        self.assertEqual(second, [200] * 5 + [429] * 2, "another address has its own counter")

    def test_c_clients_are_counted_apart_by_header(self):
        avoid_window_edge(3600)
        long_key = "k" * 300  # a JWT-sized value: hashed into the cache key, still counted exactly
        got = {k[:8]: [self.get("/limited-key", headers={"X-Api-Key": k}).status_code for _ in range(4)]
               for k in ("alice", "bob", long_key)}
        self.assertEqual(got, {"alice": [200, 200, 200, 429], "bob": [200, 200, 200, 429],
                               "kkkkkkkk": [200, 200, 200, 429]})

    def test_d_template_routes_answer_429_in_html_json_routes_in_json(self):
        avoid_window_edge(3600)
        self.assertEqual(self.get("/limited-page").status_code, 200)
        page = self.get("/limited-page", headers={"Accept": "text/html"})
        self.assertEqual(page.status_code, 429)
        self.assertTrue(page.headers["Content-Type"].startswith("text/html"), page.headers)
        self.assertIn("Retry-After", page.headers)
        first = [self.get("/limited-json/%d" % i) for i in range(2)]
        self.assertEqual([r.status_code for r in first], [200, 200], "this pattern's own counter, unused so far")
        self.assertEqual(first[0].headers["Content-Type"], "application/json")
        j = self.get("/limited-json/9")
        self.assertEqual(j.status_code, 429)
        self.assertEqual(j.headers["Content-Type"], "application/json")
        self.assertEqual(j.json()["error"]["code"], 429)

    def test_f_a_module_log_line_carries_the_request_id_of_its_access_log_line(self):
        avoid_window_edge(3600)
        start = self.inst.log_size()
        statuses = [self.get("/limited-log").status_code for _ in range(3)]
        self.assertEqual(statuses, [200, 429, 429], "this pattern's own counter, unused so far")
        time.sleep(0.3)
        lines = [l for l in self.inst.log_text(start).splitlines() if "429 for GET /limited-log" in l]
        self.assertEqual(len(lines), 2, self.inst.log_text(start))
        ids = [re.search(r"\[id ([A-Za-z0-9@_-]{20,})\]", l) for l in lines]
        self.assertTrue(all(ids), lines)
        with open(os.path.join(self.inst.root, "logs", "access_log")) as f:
            access = {l.split()[3] for l in f if l.split()[1:3] == ["429", "/limited-log"]}
        self.assertEqual(len(set(m.group(1) for m in ids)), len(lines), "one id per request")
        for m in ids:
            self.assertIn(m.group(1), access, "the error log line's id is its request's")

    def test_g_many_clients_never_push_out_a_quiet_clients_counter(self):
        # The soak's finding against mod_socache_shmcb (a ring: 6000 new counters overflowed its
        # default 512 KB and dropped the oldest): the quiet client's 2 hits must still count.
        avoid_window_edge(3600)
        quiet = {"X-Api-Key": "quiet-client"}
        self.assertEqual([self.get("/limited-key", headers=quiet).status_code for _ in range(2)], [200, 200])
        statuses = []
        lock = threading.Lock()

        def crowd(offset):
            with requests.Session() as s:
                for i in range(offset, 6000, 8):
                    r = s.get(self.inst.url("/limited-key"), headers={"X-Api-Key": "crowd-%d" % i}, timeout=10)
                    with lock:
                        statuses.append(r.status_code)

        threads = [threading.Thread(target=crowd, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(statuses.count(200), 6000, "each new client's first hit passes")
        self.assertEqual([self.get("/limited-key", headers=quiet).status_code for _ in range(2)], [200, 429],
                         "the quiet client's counter survived 6000 others")
        self.assertLogClean()

    def test_e_a_refused_upload_is_answered_before_its_body_is_read(self):
        avoid_window_edge(3600)
        self.assertEqual(requests.post(self.inst.url("/limited-upload"), json={"a": 1}, timeout=10).status_code, 200)
        # 64 MiB announced, never sent: the 429 comes at once, from the head alone.
        with socket.create_connection(("127.0.0.1", self.inst.ports["PORT"]), timeout=10) as s:
            s.sendall(b"POST /limited-upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 67108864\r\n\r\n")
            head = s.recv(4096).decode("latin-1")
        self.assertTrue(head.startswith("HTTP/1.1 429"), head)


class RateLimitFailOpen(OwnInstanceTest):
    """A store that fails (memcache on a closed port): requests pass, one warning."""
    extra_conf = RATE_LIMIT_CONF + "FlaskppRateLimitCache memcache:127.0.0.1:@DEAD_PORT@\n"
    # The dead memcache also makes mod_socache_memcache log its own [crit]/[error] lines.
    provoked = re.compile(r"FPP00036: rate limit store failed|AH00790: scache_mc|AH00791: scache_mc")

    def test_requests_pass_and_one_warning_is_logged(self):
        statuses = [self.get("/limited-key").status_code for _ in range(10)]
        self.assertEqual(statuses, [200] * 10, "fail-open: served")
        time.sleep(0.2)
        warnings = re.findall(r"\[flaskpp:warn\].*FPP00036: rate limit store failed.*fail-open", self.inst.log_text(0))
        # One per child process that met the failure, at most once a minute.
        self.assertGreaterEqual(len(warnings), 1)
        self.assertLessEqual(len(warnings), len(self.inst.children()) + 1)
        self.assertNotIn("[flaskpp:error]", self.inst.log_text(0))


class RateLimitFailClosed(OwnInstanceTest):
    """The same broken store with fail=closed: 503 with Retry-After, never a 500."""
    extra_conf = RATE_LIMIT_CONF + "FlaskppRateLimitCache memcache:127.0.0.1:@DEAD_PORT@ fail=closed\n"
    # The dead memcache also makes mod_socache_memcache log its own [crit]/[error] lines.
    provoked = re.compile(r"FPP00036: rate limit store failed|AH00790: scache_mc|AH00791: scache_mc")

    def test_requests_are_refused_with_503(self):
        rs = [self.get("/limited-key") for _ in range(5)]
        self.assertEqual([r.status_code for r in rs], [503] * 5)
        self.assertTrue(all(r.headers.get("Retry-After") == "1" for r in rs))
        self.assertEqual(rs[0].json()["error"]["code"], 503)
        self.assertEqual(self.get("/health").status_code, 200, "routes without limits are served")
        self.assertNotIn("[flaskpp:error]", self.inst.log_text(0))


SECRET = "s3cr3t-" + os.urandom(24).hex()        # 55 bytes, random per run
OLD_SECRET = "old-" + os.urandom(24).hex()
os.environ["FLASKPP_OWN_SECRET"] = SECRET        # own_instance.conf.in: FlaskppSecretKey env:FLASKPP_OWN_SECRET
os.environ["FLASKPP_OWN_OLD_SECRET"] = OLD_SECRET
SESSION_CONF = r"""
FlaskppSecretKey env:FLASKPP_OWN_SECRET env:FLASKPP_OWN_OLD_SECRET
FlaskppConfig SESSION_COOKIE_SECURE false
FlaskppPlugin testplug "@PLUGINS@/testplug.so"
FlaskppRoute GET,POST /session handler t.session-get
FlaskppRoute POST /login handler t.session-set
FlaskppRoute GET /session-page template session.html
FlaskppRoute GET,POST /echo-all handler echo
FlaskppConfig SEND_FILE_MAX_AGE_DEFAULT "1h"
FlaskppStaticMaxAge /static
FlaskppOpenAPI /openapi.json "sessions test" 1.0
FlaskppSwaggerUI /docs
FlaskppStatus /flaskpp-status
FlaskppRoute GET /plug-hello/<int:n> handler t.hello
""".replace("@PLUGINS@", PLUGINS)


def sign_session(secret, payload, ts=None):
    """The cookie as core/session.cpp signs it (itsdangerous style), for tamper and rotation tests."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    body = b64(json.dumps(payload, separators=(",", ":")).encode())
    ts = int(time.time()) if ts is None else ts
    stamp = b64(ts.to_bytes((ts.bit_length() + 7) // 8, "big"))
    key = hmac.new(secret.encode(), b"cookie-session", hashlib.sha256).digest()
    sig = b64(hmac.new(key, (body + "." + stamp).encode(), hashlib.sha256).digest())
    return body + "." + stamp + "." + sig


class Sessions(OwnInstanceTest):
    """Signed cookie sessions through a plugin handler and a template; the secret never leaks."""
    extra_conf = SESSION_CONF
    # The base configuration's virtual host inherits /session-page without its template, and
    # declares /both and /item twice on purpose (the inheritance suite's cases).
    provoked = re.compile(r"FPP00002: template 'session.html' of route GET /session-page|"
                          r"FPP00050: .* is already documented by an earlier route; left out")

    @classmethod
    def setUpClass(cls):
        os.environ["FLASKPP_OWN_SECRET"] = SECRET
        os.environ["FLASKPP_OWN_OLD_SECRET"] = OLD_SECRET
        super().setUpClass()

    def test_a_login_sets_a_signed_cookie_the_template_and_handler_read(self):
        s = requests.Session()
        r = s.post(self.inst.url("/login"), json={"user": "ann"}, timeout=10)
        self.assertEqual(r.status_code, 200, r.text)
        cookie = r.headers["Set-Cookie"]
        self.assertTrue(cookie.startswith("session="), cookie)
        for attr in ("HttpOnly", "Path=/", "SameSite=Lax"):
            self.assertIn(attr, cookie)
        self.assertNotIn("Secure", cookie)
        self.assertNotIn("Expires", cookie, "not permanent: a browser-session cookie")
        self.assertIn("Cookie", r.headers.get("Vary", ""))
        self.assertEqual(s.get(self.inst.url("/session"), timeout=10).json()["user"], "ann")
        page = s.get(self.inst.url("/session-page"), timeout=10)
        self.assertIn('<p id="user">ann</p>', page.text)
        self.assertIn('<p class="flash info">welcome back</p>', page.text, "the flash shows once")
        self.assertIn("Cookie", page.headers.get("Vary", ""))
        again = s.get(self.inst.url("/session-page"), timeout=10)
        self.assertIn('<p id="user">ann</p>', again.text)
        self.assertNotIn("welcome back", again.text, "and is gone after")
        # Emptied: the cookie is deleted.
        r = s.post(self.inst.url("/login"), json={"clear": True}, timeout=10)
        self.assertIn("Max-Age=0", r.headers["Set-Cookie"])
        self.assertEqual(s.get(self.inst.url("/session"), timeout=10).json(), {})

    def test_b_tampered_expired_and_foreign_cookies_give_an_empty_session(self):
        good = sign_session(SECRET, {"user": "ann"})
        self.assertEqual(self.get("/session", cookies={"session": good}).json(), {"user": "ann"},
                         "the test signs like the server")
        body, stamp, sig = good.split(".")
        forged = sign_session(SECRET, {"user": "root"}).split(".")[0] + "." + stamp + "." + sig
        for value in (forged, good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
                      sign_session("x" * 40, {"user": "ann"}),
                      sign_session(SECRET, {"user": "ann"}, ts=int(time.time()) - 32 * 24 * 3600),
                      "garbage", "a.b.c", "." * 5000):
            r = self.get("/session", cookies={"session": value})
            self.assertEqual(r.status_code, 200, value[:40])
            self.assertEqual(r.json(), {}, value[:40])
        self.assertNotIn("[flaskpp:error]", self.inst.log_text(self.log_start))

    def test_c_an_old_key_is_accepted_for_reading_and_the_answer_is_resigned_with_the_new(self):
        old = sign_session(OLD_SECRET, {"user": "bob"})
        self.assertEqual(self.get("/session", cookies={"session": old}).json(), {"user": "bob"})
        r = requests.post(self.inst.url("/login"), json={"n": 1}, cookies={"session": old}, timeout=10)
        value = r.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
        self.assertEqual(self.get("/session", cookies={"session": value}).json()["user"], "bob")
        key = __import__("hmac").new(SECRET.encode(), b"cookie-session", "sha256").digest()
        b, st, sig = value.split(".")
        import base64, hashlib, hmac as h
        want = base64.urlsafe_b64encode(h.new(key, (b + "." + st).encode(), hashlib.sha256).digest()).rstrip(b"=")
        self.assertEqual(sig.encode(), want, "signed with the first key")

    def test_d_routes_without_a_session_do_not_vary_by_cookie(self):
        r = self.get("/show")
        self.assertNotIn("Cookie", r.headers.get("Vary", ""))
        self.assertNotIn("Set-Cookie", r.headers)

    def test_e_static_files_under_an_opted_in_prefix_get_send_file_max_age_default(self):
        htdocs = os.path.join(self.inst.root, "htdocs")
        os.makedirs(os.path.join(htdocs, "static"), exist_ok=True)
        for name in ("static/app.css", "other.css"):
            with open(os.path.join(htdocs, name), "w") as f:
                f.write("body{}\n")
            os.chmod(os.path.join(htdocs, name), 0o644)
        os.chmod(os.path.join(htdocs, "static"), 0o755)
        r = self.get("/static/app.css")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers.get("Cache-Control"), "public, max-age=3600")
        self.assertNotIn("Cache-Control", self.get("/other.css").headers)
        missing = self.get("/static/missing.css")
        self.assertEqual(missing.status_code, 404)
        self.assertNotIn("max-age", missing.headers.get("Cache-Control", ""))

    def test_z_the_secret_appears_nowhere(self):
        outputs = []
        self.assertEqual(self.get("/openapi.json").status_code, 200)
        for path in ("/echo-all", "/show", "/session-page", "/nope-404", "/echo/x", "/item/abc", "/openapi.json",
                     "/docs", "/flaskpp-status", "/flaskpp-status?json", "/plug-hello/3"):
            r = self.get(path)
            outputs.append(r.text + str(r.headers))
        r = requests.post(self.inst.url("/echo-all"), json={"a": 1}, timeout=10)
        outputs.append(r.text)
        outputs.append(self.inst.httpd("-S").stdout + self.inst.httpd("-S").stderr)
        outputs.append(self.inst.httpd("-t", "-D", "DUMP_ROUTES").stdout)
        outputs.append(self.inst.httpd("-t", "-D", "DUMP_CONFIG").stdout)
        outputs.append(self.inst.httpd("-t", "-D", "DUMP_MODULES").stdout)
        outputs.append(self.inst.log_text(0))
        for name in os.listdir(os.path.join(self.inst.root, "logs")):
            with open(os.path.join(self.inst.root, "logs", name), "rb") as f:
                outputs.append(f.read().decode("utf-8", "replace"))
        text = "\n".join(outputs)
        self.assertGreater(len(text), 1000)
        for secret in (SECRET, OLD_SECRET, SECRET[:16], OLD_SECRET[:16]):
            self.assertNotIn(secret, text)


class SecretKeyRefusals(unittest.TestCase):
    """`apachectl -t` refuses what cannot sign sessions, with a clear message and no secret in it."""

    def check(self, conf, env, expect, keyless=False):
        inst = Instance(conf)
        if keyless:  # the main server without its FlaskppSecretKey
            inst.template = inst.template.replace("FlaskppSecretKey env:FLASKPP_OWN_SECRET\n", "")
        try:
            inst.choose_ports()
            inst.write_conf()
            res = inst.httpd("-t", env=dict(os.environ, **env))
            out = res.stdout + res.stderr
            if expect is None:
                self.assertEqual(res.returncode, 0, out)
            else:
                self.assertNotEqual(res.returncode, 0, out)
                self.assertIn(expect, out)
            for value in env.values():
                if value:
                    self.assertNotIn(value, out)
            return out
        finally:
            inst.remove()

    def test_production_refuses_a_missing_empty_or_short_key(self):
        conf = "FlaskppSecretKey env:FLASKPP_T_KEY\n"
        self.check(conf, {}, "the variable FLASKPP_T_KEY is not in Apache's environment")
        self.check(conf, {"FLASKPP_T_KEY": ""}, "FlaskppSecretKey env:FLASKPP_T_KEY is empty")
        self.check(conf, {"FLASKPP_T_KEY": "short-key-of-20-byte"}, "is 20 bytes long; at least 32")
        self.check(conf, {"FLASKPP_T_KEY": "k" * 40}, None)

    def test_a_key_file_works_and_one_readable_by_all_is_a_warning(self):
        d = tempfile.mkdtemp(dir="/var/tmp")
        try:
            key = os.path.join(d, "key")
            with open(key, "w") as f:
                f.write("f" * 40 + "\n")
            os.chmod(key, 0o600)
            out = self.check("FlaskppSecretKey file:%s\n" % key, {}, None)
            self.assertNotIn("readable by others", out)
            os.chmod(key, 0o644)
            out = self.check("FlaskppSecretKey file:%s\n" % key, {}, None)
            self.assertIn("readable by others than root and Apache's User", out)
            self.check("FlaskppSecretKey file:%s/missing\n" % d, {}, "no such file")
        finally:
            shutil.rmtree(d)

    def test_a_key_written_into_the_config_is_refused(self):
        self.check("FlaskppSecretKey " + "k" * 40 + "\n", {}, "use env:NAME or file:PATH")

    def test_production_templates_using_the_session_need_a_key(self):
        self.check("FlaskppRoute GET /sp template session.html\n", {}, "uses the session, which needs a secret key",
                   keyless=True)
        out = self.check("FlaskppEnv development\nFlaskppRoute GET /sp template session.html\n", {}, None, keyless=True)
        self.assertIn("sessions are signed with a key made for this start", out)


class DirectiveRefusals(unittest.TestCase):
    """`apachectl -t` names what is wrong with the issue 9 directives."""
    check = SecretKeyRefusals.check

    def test_rate_limits(self):
        limit = 'FlaskppRateLimit /health "5/minute"\n'
        # The default store is the module's own table: no socache module needed.
        self.check(limit, {}, None)
        self.check('FlaskppRateLimitCache shmcb:(1M)\n' + limit, {}, None)
        self.check('FlaskppRateLimitCache memcache:127.0.0.1:1\n' + limit, {},
                   "FlaskppRateLimitCache memcache needs the socache provider 'memcache': load it")
        self.check('FlaskppRateLimitCache shm:1K\n', {}, "the table needs at least")
        self.check('FlaskppRateLimitCache shm:lots\n', {}, "lots")
        self.check('FlaskppRateLimitCache shmcb:/var/run/rl\n', {}, "shmcb takes (SIZE) here")
        self.check('FlaskppRateLimit /nope "5/minute"\n', {}, "no FlaskppRoute has the pattern '/nope'")
        self.check('FlaskppRateLimit /health "5/fortnight"\n', {}, "invalid rate limit")
        self.check('FlaskppRateLimit /health "5/minute" key=cookie\n', {}, "unknown option 'key=cookie'")
        self.check('FlaskppRateLimitCache redis://127.0.0.1:6379/0\n' + limit, {}, None)  # -t does not connect
        self.check('FlaskppRateLimitCache rediss://127.0.0.1:6380/0\n', {}, "TLS needs hiredis 1.0")
        self.check('FlaskppRateLimitCache redis://127.0.0.1:99999/0\n', {}, "redis://127.0.0.1:99999/0")
        self.check('FlaskppRateLimitCache shmcb fail=maybe\n', {}, "must be fail=open or fail=closed")

    def test_schemas_and_static_max_age(self):
        self.check("FlaskppRoute POST /u handler echo schema=missing.json\n", {}, "missing.json")
        self.check("FlaskppRoute GET /t template show.html schema=x.json\n", {}, "unknown option 'schema'")
        self.check("FlaskppStaticMaxAge static\n", {}, "a URL prefix starting with '/' is needed")
        self.check('FlaskppConfig SEND_FILE_MAX_AGE_DEFAULT "soon"\n', {}, "SEND_FILE_MAX_AGE_DEFAULT")
        self.check('FlaskppConfig SESSION_COOKIE_PATH "/; Domain=evil"\n', {}, "SESSION_COOKIE_PATH")


if __name__ == "__main__":
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(globals()[sys.argv[3]])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() and result.testsRun else 1)
