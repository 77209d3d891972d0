"""FlaskppOpenAPI and FlaskppSwaggerUI on the shared instance (the demo's /openapi.json and /docs).

  openapi_test.py IT_STATE SOURCE_DIR MODULE_SO SWAGGER_UI_DIR
  (FLASKPP_BUILD: the build tree holding the npm validator, for tests/openapi/validate.sh)

The document Apache serves is valid OpenAPI 3.1 (Redocly CLI), describes the demo's and the test
routes (typed path parameters, 429 on rate-limited routes, 202 on job routes), holds no config
value, and is not itself listed; GET/HEAD only, with an ETag. Swagger UI's page and its assets are
served with the right types; nothing but the listed assets comes out of /docs/assets/ (traversal
attempts are 404). A virtual host documents its own routes. `apache2 -t` refuses what cannot work.
"""
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import requests


def load_instance(path):
    values = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            values[key] = value
    return values


INSTANCE = load_instance(sys.argv[1])
SOURCE, MODULE, SWAGGER_DIR = sys.argv[2], sys.argv[3], sys.argv[4]
HTTPD = os.environ.get("FLASKPP_HTTPD", "/usr/sbin/apache2")  # tests/integration/httpd-sanitized.sh under scripts/sanitize.sh
PORT = int(INSTANCE["PORT"])
BASE = "http://127.0.0.1:%d" % PORT
DEV = "http://127.0.0.1:%s" % INSTANCE["DEV_PORT"]
QUICK = "http://127.0.0.1:%s" % INSTANCE["QUICK_PORT"]
ERROR_LOG = os.path.join(INSTANCE["ROOT"], "logs", "error_log")
BAD_LINE = re.compile(r"\[[a-z_0-9]*:(warn|error|crit|alert|emerg)\]|exit signal|Segmentation fault")
VALIDATE = os.path.join(SOURCE, "tests", "openapi", "validate.sh")


def raw_get(path, method="GET", headers=None):
    """A request whose path goes out exactly as written (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        res = conn.getresponse()
        return res.status, dict(res.getheaders()), res.read()
    finally:
        conn.close()


class OpenApi(unittest.TestCase):
    # Each test fails for the warn-or-worse lines it made Apache write (as requests_test.py does).
    barrier = 0

    def setUp(self):
        self.log_start = os.path.getsize(ERROR_LOG)

    def tearDown(self):
        OpenApi.barrier += 1
        path = "/t/files/it-log-barrier/oa%d/%d" % (os.getpid(), OpenApi.barrier)
        marker = ("GET %s -> route" % path).encode()
        try:
            found = requests.get(BASE + path, timeout=5).status_code == 200
        except requests.RequestException:
            found = False
        if not found:
            time.sleep(0.2)
        for _ in range(100):
            with open(ERROR_LOG, "rb") as f:
                f.seek(self.log_start)
                text = f.read()
            if not found or marker in text:
                break
            time.sleep(0.01)
        bad = [line for line in text.decode("utf-8", "replace").splitlines() if BAD_LINE.search(line)]
        self.assertEqual(bad, [], "unexpected error_log lines during this test")

    def document(self, base=BASE):
        res = requests.get(base + "/openapi.json", timeout=10)
        self.assertEqual(res.status_code, 200, res.text)
        return res

    # --- the document ---------------------------------------------------------------------------

    def test_document_validates_as_openapi_31(self):
        res = self.document()
        self.assertEqual(res.headers["Content-Type"], "application/json")
        self.assertEqual(res.headers.get("Cache-Control"), "no-cache")
        self.assertRegex(res.headers.get("ETag", ""), r'^"[0-9a-f]{16}"$')
        self.assertIn("Last-Modified", res.headers)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "openapi.json")
            with open(path, "wb") as f:
                f.write(res.content)
            run = subprocess.run(["bash", VALIDATE, path], capture_output=True, text=True)
            print(run.stdout + run.stderr)
            self.assertEqual(run.returncode, 0, "validate.sh failed:\n" + run.stdout + run.stderr)

    def test_document_describes_the_routes(self):
        doc = self.document().json()
        self.assertEqual(doc["openapi"], "3.1.0")
        self.assertEqual(doc["info"], {"title": "mod_flaskpp demo", "version": "1.0"})
        paths = doc["paths"]

        def param(path, method="get"):
            params = paths[path][method]["parameters"]
            self.assertEqual(len(params), 1, params)
            p = params[0]
            self.assertEqual((p["in"], p["required"]), ("path", True))
            return p["name"], p["schema"]

        self.assertEqual(param("/t/users/{id}"), ("id", {"type": "integer", "minimum": 0}))
        name, schema = param("/api/items/{id}", "put")
        self.assertEqual((name, schema["type"], schema["minimum"]), ("id", "integer", 1))
        _, schema = param("/t/num/{n}")
        self.assertEqual((schema["minimum"], schema["maximum"]), (1, 100))
        self.assertEqual(param("/t/uuid/{u}")[1]["format"], "uuid")
        self.assertEqual(param("/t/page/{page}")[1]["enum"], ["about", "help"])
        self.assertEqual(param("/t/float/{x}")[1]["type"], "number")
        self.assertEqual(param("/hello/{name}")[1]["type"], "string")
        self.assertEqual(set(paths["/api/items/{id}"]), {"get", "post", "put", "delete"})
        # Rate limited (FlaskppRateLimit /api/users in the demo): 429 documented; validated
        # (schema=conf/schemas/user.json): the schema as the request body, 422 documented.
        users = paths["/api/users"]["post"]
        self.assertIn("429", users["responses"])
        self.assertIn("422", users["responses"])
        self.assertEqual(users.get("summary"), "Create a user (validated)")
        body = json.dumps(users["requestBody"]) + json.dumps(doc.get("components", {}))
        self.assertIn('"email"', body)
        self.assertNotIn("429", paths["/health"]["get"]["responses"])
        self.assertNotIn("429", paths["/api/echo"]["post"]["responses"])
        # Jobs answer 202 with the job's id; job-status documents the Job.
        accepted = paths["/api/predict"]["post"]["responses"]["202"]
        self.assertIn("JobAccepted", json.dumps(accepted))
        self.assertIn("/jobs/{id}", paths)
        self.assertEqual(set(paths["/jobs/{id}"]), {"get", "delete"})
        self.assertIn("Job", doc["components"]["schemas"])
        # A plugin handler's own summary (tests/plugins/test_plugin.cpp documents nothing: a default).
        self.assertTrue(paths["/t/sdk/hello/{n}"]["get"]["summary"])
        # The pages are not routes: not listed.
        for page in ("/openapi.json", "/docs", "/docs/", "/flaskpp-status"):
            self.assertNotIn(page, paths)
        self.assertFalse([p for p in paths if p.startswith("/docs")])

    def test_document_holds_no_config_value(self):
        text = self.document().text
        for secret in ("do-not-render-me", "also-secret", "Hello from config", INSTANCE["ROOT"], "SECRET_KEY",
                       "static/img", "weights.json"):
            self.assertNotIn(secret, text)

    def test_conditional_head_and_methods(self):
        res = self.document()
        etag = res.headers["ETag"]
        again = requests.get(BASE + "/openapi.json", headers={"If-None-Match": etag}, timeout=10)
        self.assertEqual((again.status_code, again.content), (304, b""))
        self.assertEqual(again.headers.get("ETag"), etag)
        head = requests.head(BASE + "/openapi.json", timeout=10)
        self.assertEqual((head.status_code, head.content), (200, b""))
        self.assertEqual(head.headers["ETag"], etag)
        self.assertEqual(int(head.headers["Content-Length"]), len(res.content))
        for method in ("POST", "PUT", "DELETE"):
            r = requests.request(method, BASE + "/openapi.json", data="{}", timeout=10)
            self.assertEqual(r.status_code, 405, method)
            self.assertIn("GET", r.headers.get("Allow", ""))
        opt = requests.options(BASE + "/openapi.json", timeout=10)
        self.assertEqual(opt.status_code, 200)
        self.assertEqual(opt.headers.get("Allow"), "GET, HEAD, OPTIONS")
        # The same bytes every time (built once at startup, whatever child answers).
        for _ in range(5):
            self.assertEqual(requests.get(BASE + "/openapi.json", timeout=10).content, res.content)

    def test_virtual_hosts(self):
        main = self.document().json()["paths"]
        dev = self.document(DEV).json()["paths"]
        self.assertIn("/dev/page", dev)
        self.assertNotIn("/dev/page", main)
        self.assertIn("/t/users/{id}", dev)  # inherited routes, parent first
        # The quick-handler host shares the main server's routes: the page is answered there too.
        self.assertEqual(self.document(QUICK).json()["paths"].keys(), main.keys())

    def test_startup_log_names_the_document(self):
        with open(ERROR_LOG, encoding="utf-8", errors="replace") as f:
            log = f.read()
        self.assertRegex(log, r"FPP00051: mod_flaskpp: OpenAPI document of \S+ at /openapi\.json: \d+ route\(s\)")
        self.assertRegex(log, r"FPP00052: mod_flaskpp: Swagger UI of \S+ at /docs, assets from " +
                         re.escape(SWAGGER_DIR))
        self.assertNotIn("FPP00050", log)

    # --- Swagger UI -----------------------------------------------------------------------------

    def test_swagger_ui_page(self):
        res = requests.get(BASE + "/docs", timeout=10, allow_redirects=False)
        self.assertEqual(res.status_code, 200)
        self.assertEqual(res.headers["Content-Type"], "text/html; charset=utf-8")
        self.assertIn("ETag", res.headers)
        html = res.text
        self.assertIn("<title>mod_flaskpp demo</title>", html)
        self.assertIn('url: "/openapi.json"', html.replace("'", '"'))
        self.assertIn("validatorUrl: null", html)  # no badge (and no document URL) sent to validator.swagger.io
        for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
            self.assertIn('"/docs/assets/%s"' % asset, html)
        # The other form redirects to the canonical one, query kept.
        for path, location in (("/docs/", "/docs"), ("/docs/?a=1&b", "/docs?a=1&b")):
            r = requests.get(BASE + path, timeout=10, allow_redirects=False)
            self.assertEqual((r.status_code, r.headers.get("Location")), (308, location), path)
        self.assertEqual(requests.post(BASE + "/docs", timeout=10).status_code, 405)

    def test_swagger_ui_assets(self):
        for name, ctype in (("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
                            ("swagger-ui-standalone-preset.js", "text/javascript; charset=utf-8"),
                            ("swagger-ui.css", "text/css; charset=utf-8"),
                            ("favicon-32x32.png", "image/png")):
            res = requests.get(BASE + "/docs/assets/" + name, timeout=10)
            self.assertEqual(res.status_code, 200, name)
            self.assertEqual(res.headers["Content-Type"], ctype, name)
            self.assertEqual(res.headers.get("Cache-Control"), "public, max-age=86400", name)
            self.assertEqual(res.headers.get("X-Content-Type-Options"), "nosniff", name)
            with open(os.path.join(SWAGGER_DIR, name), "rb") as f:
                self.assertEqual(res.content, f.read(), name)
            again = requests.get(BASE + "/docs/assets/" + name, headers={"If-None-Match": res.headers["ETag"]},
                                 timeout=10)
            self.assertEqual(again.status_code, 304, name)
        self.assertEqual(requests.post(BASE + "/docs/assets/swagger-ui.css", timeout=10).status_code, 405)

    def test_nothing_else_comes_out_of_the_assets_directory(self):
        self.assertTrue(os.path.exists(os.path.join(SWAGGER_DIR, "package.json")))
        for path in ("/docs/assets", "/docs/assets/", "/docs/assets/package.json", "/docs/assets/index.html",
                     "/docs/assets/swagger-ui.js", "/docs/assets/swagger-ui-bundle.js.map",
                     "/docs/assets/sub/swagger-ui.css", "/docs/assets/swagger-ui.css/",
                     "/docs/assets/../assets/package.json", "/docs/assets/../../etc/passwd",
                     "/docs/assets/%2e%2e/%2e%2e/etc/passwd",
                     "/docs/assets/./%2E%2E/assets/package.json", "/docs/assets/..%2f..%2fetc%2fpasswd",
                     "/docs/assets/..%5c..%5cpackage.json", "/docs/assets/%00swagger-ui.css"):
            # (A path above the root would be Apache's own 400, logged as an error: not tried.)
            status, headers, body = raw_get(path)
            self.assertEqual(status, 404, path)
            self.assertNotIn(b"root:", body, path)
            self.assertNotIn(b'"name": "swagger-ui-dist"', body, path)
        # An escaped but harmless name is the same file.
        status, headers, _ = raw_get("/docs/assets/%73wagger-ui.css")
        self.assertEqual((status, headers.get("Content-Type")), (200, "text/css; charset=utf-8"))

    # --- a private instance: startup warnings -------------------------------------------------

    def test_startup_warnings_on_an_instance_of_its_own(self):
        """Routes the document cannot show, or that the pages shadow, are FPP00050 warnings."""
        modules_dir = subprocess.run(["apxs", "-q", "LIBEXECDIR"], check=True, capture_output=True,
                                     text=True).stdout.strip()
        root = tempfile.mkdtemp(prefix="flaskpp-openapi.", dir="/var/tmp")
        os.chmod(root, 0o755)
        conf, log = os.path.join(root, "httpd.conf"), os.path.join(root, "error_log")
        os.mkdir(os.path.join(root, "run"))
        os.mkdir(os.path.join(root, "htdocs"))
        try:
            for _ in range(5):  # a port taken between choosing and binding: another one
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", 0))
                    port = probe.getsockname()[1]
                with open(conf, "w") as f:
                    f.write("\n".join([
                        'ServerRoot "%s"' % root, "ServerName 127.0.0.1", "Listen 127.0.0.1:%d" % port,
                        'PidFile "%s/run/httpd.pid"' % root, 'DefaultRuntimeDir "%s/run"' % root,
                        'ErrorLog "%s"' % log, "User www-data", "Group www-data",
                        "LoadModule mpm_event_module %s/mod_mpm_event.so" % modules_dir,
                        "LoadModule authz_core_module %s/mod_authz_core.so" % modules_dir,
                        'LoadModule flaskpp_module "%s"' % MODULE, "LogLevel warn flaskpp:info",
                        'DocumentRoot "%s/htdocs"' % root,
                        "FlaskppRoute GET /a/<int:x> handler echo",
                        "FlaskppRoute GET /a/<x> handler echo",       # the same OpenAPI path and method
                        "FlaskppRoute GET /docs handler health",      # shadowed by the page
                        "FlaskppRoute GET /files/<path:p> handler echo",
                        "FlaskppOpenAPI /files/openapi.json", "FlaskppSwaggerUI /docs", ""]))
                open(log, "w").close()
                if subprocess.run([HTTPD, "-f", conf, "-k", "start"], capture_output=True).returncode != 0:
                    continue
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    try:
                        doc = requests.get("http://127.0.0.1:%d/files/openapi.json" % port, timeout=1)
                        break
                    except requests.RequestException:
                        time.sleep(0.05)
                else:
                    continue
                page = requests.get("http://127.0.0.1:%d/docs" % port, timeout=5)
                break
            else:
                self.fail("the private Apache did not start:\n" + open(log).read())
            self.assertEqual(doc.status_code, 200)
            self.assertEqual(page.headers["Content-Type"], "text/html; charset=utf-8")  # the page, not the route
            self.assertEqual(sorted(doc.json()["paths"]), ["/a/{x}", "/files/{p}"])
            with open(log) as f:
                warnings = [l for l in f.read().splitlines() if "FPP00050" in l]
            self.assertEqual(len(warnings), 3, "\n".join(warnings))
            text = "\n".join(warnings)
            self.assertIn("[flaskpp:warn]", warnings[0])
            self.assertRegex(text, r"FlaskppRoute GET /a/<x> handler at %s:\d+: GET /a/\{x\} is already documented"
                             % re.escape(conf))
            self.assertRegex(text, r"FlaskppRoute GET /docs at \S+ is shadowed by FlaskppSwaggerUI and left out")
            self.assertRegex(text, r"FlaskppRoute GET /files/<path:p> at \S+ also matches /files/openapi\.json, "
                                   r"which FlaskppOpenAPI/FlaskppSwaggerUI answer")
        finally:
            pid = None
            try:
                with open(os.path.join(root, "run", "httpd.pid")) as f:
                    pid = int(f.read().strip())
            except (OSError, ValueError):
                pass
            subprocess.run([HTTPD, "-f", conf, "-k", "stop"], capture_output=True)
            for _ in range(200):
                if not pid or not os.path.exists("/proc/%d" % pid):
                    break
                time.sleep(0.05)
            shutil.rmtree(root, ignore_errors=True)

    # --- apache2 -t -----------------------------------------------------------------------------

    def test_configuration_checks(self):
        modules_dir = subprocess.run(["apxs", "-q", "LIBEXECDIR"], check=True, capture_output=True,
                                     text=True).stdout.strip()
        tmp = tempfile.mkdtemp(prefix="flaskpp-openapi-cfg.")
        try:
            os.mkdir(os.path.join(tmp, "run"))
            head = ("ServerRoot \"{r}\"\nServerName 127.0.0.1\nListen 127.0.0.1:1\nPidFile \"{r}/run/pid\"\n"
                    "DefaultRuntimeDir \"{r}/run\"\nErrorLog \"{r}/error_log\"\n"
                    "LoadModule mpm_event_module {m}/mod_mpm_event.so\n"
                    "LoadModule authz_core_module {m}/mod_authz_core.so\n"
                    "LoadModule flaskpp_module \"{so}\"\n"
                    "FlaskppRoute GET /health handler health\n").format(r=tmp, m=modules_dir, so=MODULE)

            def check(body):
                conf = os.path.join(tmp, "httpd.conf")
                with open(conf, "w") as f:
                    f.write(head + body + "\n")
                res = subprocess.run([HTTPD, "-t", "-f", conf], capture_output=True, text=True)
                return res.returncode, res.stdout + res.stderr

            def refused(body, message):
                rc, out = check(body)
                self.assertNotEqual(rc, 0, body)
                self.assertIn(message, out, body)

            rc, out = check("FlaskppOpenAPI /openapi.json\nFlaskppSwaggerUI /docs")
            self.assertEqual(rc, 0, out)  # the build tree's swagger-ui-dist, compiled in as the default
            rc, out = check('FlaskppOpenAPI /api/openapi.json "My API" 2.0\nFlaskppSwaggerUI /docs/ "%s"' %
                            SWAGGER_DIR)
            self.assertEqual(rc, 0, out)
            refused("FlaskppSwaggerUI /docs", "FlaskppSwaggerUI /docs on 127.0.0.1 needs FlaskppOpenAPI")
            refused("FlaskppOpenAPI /openapi.json\nFlaskppSwaggerUI /docs\n<VirtualHost 127.0.0.1:1>\n"
                    "ServerName 127.0.0.1\nFlaskppOpenAPI Off\n</VirtualHost>", "needs FlaskppOpenAPI")
            missing = os.path.join(tmp, "no-swagger-here")
            os.mkdir(missing)
            refused("FlaskppOpenAPI /openapi.json\nFlaskppSwaggerUI /docs %s" % missing,
                    "FlaskppSwaggerUI: no readable swagger-ui-bundle.js in '%s'" % missing)
            refused("FlaskppOpenAPI /openapi.json\nFlaskppSwaggerUI /docs relative/dir",
                    "no readable swagger-ui-bundle.js in '%s/relative/dir'" % tmp)
            for bad in ("openapi.json", "/a//b.json", "/a/../b.json", "/x?y", "/a b"):
                refused('FlaskppOpenAPI "%s"' % bad, "FlaskppOpenAPI: '%s' must be a plain URL path" % bad)
            refused("FlaskppOpenAPI /x.json\nFlaskppSwaggerUI /docs%2F", "FlaskppSwaggerUI: '/docs%2F' must be")
            refused("FlaskppOpenAPI /docs\nFlaskppSwaggerUI /docs", "FlaskppOpenAPI /docs is one of FlaskppSwaggerUI")
            refused("FlaskppOpenAPI /docs/assets/o.json\nFlaskppSwaggerUI /docs/", "is one of FlaskppSwaggerUI")
            refused("FlaskppOpenAPI /s\nFlaskppStatus /s", "FlaskppStatus /s is also a path of FlaskppOpenAPI")
            refused("FlaskppOpenAPI Off extra", "FlaskppOpenAPI: Off takes no TITLE or VERSION")
            refused('FlaskppOpenAPI /o.json ""', "FlaskppOpenAPI: TITLE is empty")
            refused("FlaskppOpenAPI /a /b /c /d", "FlaskppOpenAPI takes one, two or three arguments")
            # Off in a virtual host, both directives: fine.
            rc, out = check("FlaskppOpenAPI /openapi.json\nFlaskppSwaggerUI /docs\n<VirtualHost 127.0.0.1:1>\n"
                            "ServerName 127.0.0.1\nFlaskppOpenAPI Off\nFlaskppSwaggerUI Off\n</VirtualHost>")
            self.assertEqual(rc, 0, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    result = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print("openapi: %d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(1 if failed or result.testsRun == 0 else 0)
