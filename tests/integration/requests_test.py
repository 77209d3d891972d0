"""Seed 16.5.2: the app answers Python `requests` (Debian's python3-requests) like any client."""
import hashlib
import json
import os
import sys
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


class RequestsClient(unittest.TestCase):
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
