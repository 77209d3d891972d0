"""What can be checked of docker/Dockerfile without a Docker engine (none is on the CI machines):

  docker_check.py SOURCE_DIR BUILD_DIR

- the build stage runs the README's own set-up script (the one the README's run command runs)
  and scripts/package-deb.sh, and installs nothing itself (no second copy of the install steps);
- every path COPY takes from the build context exists and is not excluded by
  docker/Dockerfile.dockerignore; what COPY --from=build takes is what package-deb.sh makes
  (BUILD/pkg/libapache2-mod-flaskpp_*_amd64.deb, present after tests/deploy/deb_test.sh or
  scripts/package-deb.sh);
- the runtime stage runs as www-data (never root), exposes 8080, has a HEALTHCHECK on /health,
  takes FLASKPP_ENV and SECRET_KEY from the environment and logs to stdout/stderr; its CMD runs
  Apache in the foreground.
The image's configuration itself is started as www-data, from the installed .deb, by
tests/deploy/deb_test.sh (step 4). With a working engine (`docker info`), this script also builds
the image, runs it and walks the demo through it.
"""
import fnmatch
import glob
import os
import re
import shlex
import subprocess
import sys
import time

SOURCE, BUILD = sys.argv[1], sys.argv[2]
failures = []
if not glob.glob(os.path.join(BUILD, "pkg", "libapache2-mod-flaskpp_*_amd64.deb")):
    subprocess.run([os.path.join(SOURCE, "scripts/package-deb.sh"), BUILD], check=True)


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def read(path):
    with open(os.path.join(SOURCE, path)) as f:
        return f.read()


text = read("docker/Dockerfile")
# Instructions, with continuation lines joined and comments dropped.
instructions = []
for line in re.sub(r"\\\n", " ", text).splitlines():
    line = line.strip()
    if line and not line.startswith("#"):
        word, _, rest = line.partition(" ")
        instructions.append((word.upper(), rest.strip()))

stages = []  # (name, [instructions])
for word, rest in instructions:
    if word == "FROM":
        m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
        stages.append({"image": m.group(1), "name": m.group(2), "steps": []})
    elif stages:
        stages[-1]["steps"].append((word, rest))
check(len(stages) == 2, "two stages (build, runtime): %s" % [s["image"] for s in stages])
build, runtime = stages[0], stages[-1]
check(build["image"] == "debian:bookworm" and build["name"] == "build", "the build stage is debian:bookworm AS build")
check(runtime["image"].startswith("debian:bookworm"), "the runtime stage is Debian bookworm (%s)" % runtime["image"])

# --- the build stage: the README's set-up script, nothing else installing ------------------------
readme = read("README.md")
block = re.search(r"```sh\n(.*?)```", readme, re.S).group(1).split("\n")
run_cmd = block[0].strip()
check(run_cmd == "./scripts/run-demo.sh", "the README's run command is %s" % run_cmd)
check(re.search(r'^"\$ROOT/scripts/setup.sh"', read("scripts/run-demo.sh"), re.M) is not None,
      "the README's run command runs scripts/setup.sh")
build_runs = " && ".join(rest for word, rest in build["steps"] if word == "RUN")
check("./scripts/setup.sh" in build_runs and "./scripts/package-deb.sh build" in build_runs,
      "the build stage runs ./scripts/setup.sh then ./scripts/package-deb.sh build: %s" % build_runs)
check(not re.search(r"apt-get|apt |npm |cmake ", build_runs),
      "the build stage installs and builds nothing itself (no second copy of setup.sh's steps)")
check(("WORKDIR", "/src") in build["steps"] and ("COPY", ". /src") in build["steps"],
      "the build stage copies the repository to /src and works there")

# --- COPY sources ---------------------------------------------------------------------------------
ignore = [l.strip() for l in read("docker/Dockerfile.dockerignore").splitlines()
          if l.strip() and not l.startswith("#")]


def ignored(path):
    """Docker's rule, simplified: the last matching pattern decides; a pattern also covers what is
    below a directory it names."""
    excluded = False
    for pat in ignore:
        negate = pat.startswith("!")
        pat = pat.lstrip("!")
        if fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(path, pat + "/*"):
            excluded = not negate
    return excluded


needed = ["CMakeLists.txt", "scripts/setup.sh", "scripts/package-deb.sh", "scripts/build-examples.sh",
          "mod_flaskpp/glue/mod_flaskpp.cpp", "include/flaskpp/flaskpp.hpp", "cmake/Packaging.cmake",
          "cmake/debian/postinst", "conf/flaskpp.conf", "conf/debian/flaskpp-demo.conf.in", "templates/index.html",
          "htdocs/static/css/app.css", "models/digits/weights.json", "examples/digits/plugin.cpp",
          "tests/CMakeLists.txt", "bench/CMakeLists.txt"]
for path in needed:
    check(os.path.exists(os.path.join(SOURCE, path)) and not ignored(path),
          "the build context has %s (Dockerfile.dockerignore keeps it)" % path)
for path in ["build/CMakeCache.txt", "build-clang/x", ".git/HEAD"]:
    check(ignored(path), "Dockerfile.dockerignore leaves out %s" % path)

for stage in stages:
    for word, rest in stage["steps"]:
        if word != "COPY":
            continue
        args = shlex.split(rest)
        from_stage = next((a.split("=", 1)[1] for a in args if a.startswith("--from=")), None)
        paths = [a for a in args if not a.startswith("--")]
        sources, dest = paths[:-1], paths[-1]
        for src in sources:
            if from_stage is None:
                ok = src == "." or (os.path.exists(os.path.join(SOURCE, src)) and not ignored(src))
                check(ok, "COPY %s -> %s: in the build context" % (src, dest))
            else:
                check(from_stage == "build" and src.startswith("/src/"), "COPY --from=%s %s" % (from_stage, src))
                local = os.path.join(BUILD, os.path.relpath(src, "/src/build")) if src.startswith("/src/build/") \
                    else os.path.join(SOURCE, os.path.relpath(src, "/src"))
                found = glob.glob(os.path.join(local, "libapache2-mod-flaskpp_*_amd64.deb")) if os.path.isdir(local) \
                    else glob.glob(local)
                check(bool(found), "COPY --from=build %s: package-deb.sh makes it here (%s)" % (src, found))

# --- the runtime stage ------------------------------------------------------------------------------
steps = runtime["steps"]
users = [rest for word, rest in steps if word == "USER"]
check(users and users[-1] == "www-data", "the runtime stage runs as www-data: USER %s" % users)
check(all(u not in ("root", "0", "0:0") for u in users), "no USER root")
run_after_user = [rest for i, (word, rest) in enumerate(steps)
                  if word == "RUN" and any(w == "USER" for w, _ in steps[:i])]
check(not run_after_user, "nothing runs as root after USER www-data")
runtime_runs = " ".join(rest for word, rest in steps if word == "RUN")
check("libapache2-mod-flaskpp_" in runtime_runs and "apt-get install" in runtime_runs,
      "the runtime stage installs the .deb with apt (which brings Apache and the libraries)")
check("container-setup.sh" in runtime_runs, "the runtime stage runs docker/container-setup.sh")
check(("EXPOSE", "8080") in steps, "EXPOSE 8080")
health = " ".join(rest for word, rest in steps if word == "HEALTHCHECK")
check("http://127.0.0.1:8080/health" in health, "HEALTHCHECK on /health: %s" % health)
check(any(word == "ENV" and rest.startswith("FLASKPP_ENV=") for word, rest in steps), "ENV FLASKPP_ENV default")
check(not any(word in ("ENV", "ARG") and "SECRET_KEY" in rest for word, rest in instructions),
      "no SECRET_KEY baked into the image (ENV/ARG)")
cmd = [rest for word, rest in steps if word == "CMD"]
check(cmd and "FOREGROUND" in cmd[-1], "CMD runs Apache in the foreground: %s" % cmd)
check(("STOPSIGNAL", "SIGWINCH") in steps, "docker stop is a graceful stop (SIGWINCH)")

conf = read("docker/flaskpp-container.conf")
check("Define FLASKPP_DEMO_SECRET env:SECRET_KEY" in conf, "the session key comes from -e SECRET_KEY")
check("Define FLASKPP_DEMO_ENV ${FLASKPP_ENV}" in conf, "the environment comes from -e FLASKPP_ENV")
check("ErrorLog /proc/self/fd/2" in conf and "FLASKPP_DEMO_ACCESS_LOG /proc/self/fd/1" in conf,
      "errors go to stderr, requests to stdout")
setup = read("docker/container-setup.sh")
check(os.access(os.path.join(SOURCE, "docker/container-setup.sh"), os.X_OK), "container-setup.sh is executable")
check("rm -f /var/lib/mod-flaskpp/demo-secret-key" in setup, "container-setup.sh removes the package's key")

# --- with an engine: build, run, walk -----------------------------------------------------------------
engine = subprocess.run(["docker", "info"], capture_output=True).returncode == 0 if \
    subprocess.run(["sh", "-c", "command -v docker"], capture_output=True).returncode == 0 else False
if not engine:
    print("note: no Docker engine here; the image itself was not built (deb_test.sh runs its configuration)")
else:
    tag = "mod-flaskpp-test:%d" % os.getpid()
    r = subprocess.run(["docker", "build", "-f", "docker/Dockerfile", "-t", tag, "."], cwd=SOURCE)
    check(r.returncode == 0, "docker build")
    if r.returncode == 0:
        key = os.urandom(32).hex()
        cid = subprocess.run(["docker", "run", "-d", "-p", "127.0.0.1::8080", "-e", "SECRET_KEY=" + key, tag],
                             capture_output=True, text=True).stdout.strip()
        port = subprocess.run(["docker", "port", cid, "8080"], capture_output=True, text=True).stdout.split(":")[-1]
        for _ in range(300):
            health = subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}", cid],
                                    capture_output=True, text=True).stdout.strip()
            if health == "healthy":
                break
            time.sleep(0.2)
        check(health == "healthy", "the container becomes healthy")
        walk = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE, "tests/deploy/demo_walk.py"),
                               "http://127.0.0.1:" + port.strip(), SOURCE])
        check(walk.returncode == 0, "the demo walk through the container")
        user = subprocess.run(["docker", "exec", cid, "id", "-un"], capture_output=True, text=True).stdout.strip()
        check(user == "www-data", "the container runs as www-data")
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)

print("%d checks failed" % len(failures) if failures else "all checks passed")
sys.exit(1 if failures else 0)
