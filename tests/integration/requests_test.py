"""Seed 16.5.2: the app answers Python `requests` (Debian's python3-requests) like any client."""
import hashlib
import json
import os
import re
import sys
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


INSTANCE = load_instance(sys.argv[1] if len(sys.argv) > 1 else os.environ["FLASKPP_IT_STATE"])
BASE = "http://127.0.0.1:%s" % INSTANCE["PORT"]
IMG_DIR = os.path.join(INSTANCE["ROOT"], "htdocs", "static", "img")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
ERROR_LOG = os.path.join(INSTANCE["ROOT"], "logs", "error_log")
BAD_LINE = re.compile(r"\[[a-z_0-9]*:(warn|error|crit|alert|emerg)\]|exit signal|Segmentation fault")


class RequestsClient(unittest.TestCase):
    # Each test fails for the warn-or-worse lines it made Apache write to error_log, unless it
    # allowed them with self.allow_log(regex) (re.search on each line), as it_main.cpp does.
    barrier = 0

    def allow_log(self, regex):
        self.allowed.append(re.compile(regex))

    def setUp(self):
        self.allowed = []
        self.log_start = os.path.getsize(ERROR_LOG)

    def tearDown(self):
        # A barrier request: its debug line (FPP00008) is written before its response, so once it
        # is in the log, so are the lines of every request the test finished before.
        RequestsClient.barrier += 1
        path = "/t/files/it-log-barrier/py%d/%d" % (os.getpid(), RequestsClient.barrier)
        marker = ("GET %s -> route" % path).encode()
        try:
            found = requests.get(BASE + path, timeout=5).status_code == 200
        except requests.RequestException:
            found = False
        if not found:  # no barrier possible: a short grace period instead
            time.sleep(0.2)
        for _ in range(100):
            with open(ERROR_LOG, "rb") as f:
                f.seek(self.log_start)
                text = f.read()
            if not found or marker in text:
                break
            time.sleep(0.01)
        bad = [line for line in text.decode("utf-8", "replace").splitlines()
               if BAD_LINE.search(line) and not any(a.search(line) for a in self.allowed)]
        self.assertEqual(bad, [], "unexpected error_log lines during this test")

    def test_schema_route_answers_422_with_every_error_and_passes_valid_bodies(self):
        ok = requests.post(BASE + "/api/users", json={"name": "Ann", "email": "ann@example.org", "age": 40},
                           timeout=10)
        self.assertEqual(ok.status_code, 200, ok.text)
        self.assertEqual(ok.json()["json"]["name"], "Ann", "the handler saw the valid body")
        bad = requests.post(BASE + "/api/users", json={"name": "A", "age": -1, "role": "boss", "x": 1}, timeout=10)
        self.assertEqual(bad.status_code, 422, bad.text)
        err = bad.json()["error"]
        self.assertEqual(err["code"], 422)
        locs = sorted(e["loc"] for e in err["errors"])
        self.assertEqual(locs, ["/age", "/email", "/name", "/role", "/x"], err)
        self.assertTrue(all(e["msg"] for e in err["errors"]))
        self.assertEqual(requests.post(BASE + "/api/users", data="name=a", timeout=10,
                                       headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code, 415)
        self.assertEqual(requests.post(BASE + "/api/users", data="{", timeout=10,
                                       headers={"Content-Type": "application/json"}).status_code, 400)

    def test_json_in_json_out(self):
        res = requests.post(BASE + "/api/echo", json={"key": "value", "n": [1, 2]})
        self.assertEqual(res.status_code, 200)
        self.assertEqual(res.headers["Content-Type"], "application/json")
        body = res.json()
        self.assertEqual(body["json"], {"key": "value", "n": [1, 2]})
        self.assertEqual(body["method"], "POST")

    def test_form_post(self):
        res = requests.post(BASE + "/api/echo", data={"username": "xyz", "tags": ["a", "b"]})
        self.assertEqual(res.json()["form"], {"username": ["xyz"], "tags": ["a", "b"]})

    def test_files_upload(self):
        files = [("file", ("one.png", PNG, "image/png")), ("file", ("two.png", PNG + b"second", "image/png"))]
        res = requests.post(BASE + "/t/upload", files=files)
        self.assertEqual(res.status_code, 200, res.text)
        saved = res.json()["files"]
        self.assertEqual([f["filename"] for f in saved], ["one.png", "two.png"])
        for f, (_, (_, data, _)) in zip(saved, files):
            with open(os.path.join(IMG_DIR, f["saved_as"]), "rb") as fh:
                self.assertEqual(hashlib.sha256(fh.read()).hexdigest(), hashlib.sha256(data).hexdigest())
            served = requests.get(BASE + f["url"])
            self.assertEqual(served.content, data)

    def test_disguised_upload_is_refused(self):
        res = requests.post(BASE + "/t/upload", files={"file": ("x.png", b"<?php echo 1; ?>", "image/png")})
        self.assertEqual(res.status_code, 415)
        self.assertEqual(res.json()["error"]["code"], 415)

    def test_bad_json_is_a_json_400(self):
        res = requests.post(BASE + "/api/echo", data="{oops", headers={"Content-Type": "application/json"})
        self.assertEqual(res.status_code, 400)
        self.assertIn("offset", res.json()["error"]["message"])


if __name__ == "__main__":
    result = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print("requests: %d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(1 if failed or result.testsRun == 0 else 0)
