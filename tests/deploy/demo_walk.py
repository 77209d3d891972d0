"""Walks through the demo app as a user would, over real HTTP, wherever it is deployed (the .deb's
site in the system Apache, the Docker image's configuration, a TLS or HTTP/2 front):

  demo_walk.py BASE_URL SOURCE_DIR [--ca CERT]

/health, the index page and its static files, a template route, JSON echo, the digits plugin
(predict-now agrees with sklearn's predict_proba on held-out samples), an upload (the thumbnail
is served back byte for byte), a background prediction polled until done, the validated route's
422, the OpenAPI document and Swagger UI. Prints one ok/FAIL line per check; exit 1 on any FAIL.
"""
import json
import os
import re
import struct
import sys
import time
import zlib

import requests

BASE = sys.argv[1].rstrip("/")
SOURCE = sys.argv[2]
VERIFY = sys.argv[sys.argv.index("--ca") + 1] if "--ca" in sys.argv else True
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def get(path, **kw):
    return requests.get(BASE + path, timeout=15, verify=VERIFY, **kw)


def post(path, **kw):
    return requests.post(BASE + path, timeout=15, verify=VERIFY, **kw)


def png(width, height, seed):
    """A real PNG (8-bit grey), different for each seed."""
    rows = b"".join(b"\x00" + bytes((x * 7 + y * 3 + seed) % 256 for x in range(width)) for y in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


samples = json.load(open(os.path.join(SOURCE, "models/digits/heldout.json")))["samples"][:3]

r = get("/health")
check(r.status_code == 200 and r.headers["Content-Type"].startswith("application/json"), "/health answers 200 JSON")

r = get("/")
check(r.status_code == 200 and "text/html" in r.headers["Content-Type"] and 'id="digit-canvas"' in r.text,
      "/ renders the index page with the digit canvas")
assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', r.text)
check(len(assets) >= 2 and all(get(a).status_code == 200 for a in assets),
      "the index page's static files answer 200 (%s)" % ", ".join(assets))

r = get("/hello/Debian")
check(r.status_code == 200 and "Debian" in r.text, "/hello/<name> renders its template")

r = post("/api/echo", json={"model": "digits", "n": 3})
check(r.status_code == 200 and r.json().get("json") == {"model": "digits", "n": 3}, "/api/echo echoes JSON")

for s in samples:
    expected = max(range(10), key=lambda i: s["proba"][i])
    r = post("/api/predict-now", json={"pixels": s["pixels"]})
    check(r.status_code == 200 and r.json().get("digit") == expected,
          "plugin route /api/predict-now: %s (sklearn says %d)" % (r.text[:40], expected))

image = png(24, 16, int(time.time()) % 251)
r = post("/upload", files={"image_upload": ("walk.png", image, "image/png")})
thumbs = re.findall(r'<img class="img-thumbnail" src="([^"]+)"', r.text)
check(r.status_code == 200 and len(thumbs) == 1, "an upload renders the index page with one thumbnail")
if thumbs:
    t = get(thumbs[0])
    check(t.status_code == 200 and t.headers["Content-Type"] == "image/png" and t.content == image,
          "the thumbnail %s is served back byte for byte" % thumbs[0])

s = samples[0]
expected = max(range(10), key=lambda i: s["proba"][i])
r = post("/api/predict", json={"pixels": s["pixels"]})
check(r.status_code == 202 and r.json().get("status") == "queued", "a background prediction is accepted (202)")
if r.status_code == 202:
    status_url = r.json()["status_url"]
    end = time.monotonic() + 30
    job = {}
    while time.monotonic() < end:
        job = get(status_url).json()
        if job.get("status") in ("done", "failed", "cancelled"):
            break
        time.sleep(0.1)
    check(job.get("status") == "done" and job.get("result", {}).get("digit") == expected,
          "the job finishes with digit %d: %s" % (expected, json.dumps(job)[:120]))

r = post("/api/users", json={"name": 7})
check(r.status_code == 422 and r.json().get("error", {}).get("code") == 422, "/api/users refuses a bad body (422)")

r = get("/openapi.json")
paths = r.json().get("paths", {}) if r.status_code == 200 else {}
check("/api/predict-now" in paths and "/api/users" in paths, "/openapi.json documents the routes")
r = get("/docs")
check(r.status_code == 200 and "swagger-ui" in r.text, "/docs is Swagger UI's page")
r = get("/docs/assets/swagger-ui-bundle.js")
check(r.status_code == 200 and len(r.content) > 100000, "Swagger UI's bundle is served (%d bytes)" % len(r.content))

print("%d checks failed" % len(failures) if failures else "all checks passed")
sys.exit(1 if failures else 0)
