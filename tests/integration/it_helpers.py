"""Helpers shared by the Python tests that run a private Apache of their own (status, TLS/HTTP2,
hostile HTTP, restarts, own_instance_test's suites): imported from the test's own directory,
nothing runs at import. PrivateApache is the instance itself; demo_conf() the configuration that
includes the demo as conf/httpd.conf.in does."""
import http.client
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import zlib

# The Apache binary: $FLASKPP_HTTPD (tests/integration/httpd-sanitized.sh under scripts/sanitize.sh),
# else Debian's.
HTTPD = os.environ.get("FLASKPP_HTTPD") or "/usr/sbin/apache2"
# The parent logs this line at every start and restart (a new generation).
GENERATION = "resuming normal operations"
# An error_log line a test must either have provoked on purpose or fail on.
BAD_LINE = re.compile(r"\[[a-z_0-9]*:(warn|error|crit|alert|emerg)\]|exit signal|Segmentation fault")


def free_ports(n):
    """n distinct free loopback ports (bound together, then released)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_until(predicate, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def png(width, height, seed, noisy=False):
    """A real PNG (8-bit grey), different for each seed; noisy: random pixels stored uncompressed."""
    if noisy:
        rnd = random.Random(seed)
        rows = b"".join(b"\x00" + rnd.randbytes(width) for _ in range(height))
        data = zlib.compress(rows, 0)
    else:
        rows = b"".join(b"\x00" + bytes((x * 7 + y * 3 + seed) % 256 for x in range(width)) for y in range(height))
        data = zlib.compress(rows)

    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload +
                struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", data) + chunk(b"IEND", b""))


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, **kw)


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid):
    """Whether PID runs (a zombie does not: no init may reap a dead parent in a container)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


_modules_dir = []


def modules_dir():
    """Apache's module directory (`apxs -q LIBEXECDIR`), asked once."""
    if not _modules_dir:
        _modules_dir.append(run(["apxs", "-q", "LIBEXECDIR"], check=True, text=True).stdout.strip())
    return _modules_dir[0]


def load_modules(names, directory=None):
    """LoadModule lines for Apache's own modules NAMES (mpm_event, authz_core, ...)."""
    directory = directory or modules_dir()
    return "".join("LoadModule %s_module %s/mod_%s.so\n" % (m, directory, m) for m in names)


class ApacheDidNotStart(RuntimeError, AssertionError):
    """Raised by PrivateApache.start (a RuntimeError to scripts, a failure to unittest)."""


class PrivateApache:
    """A private Apache: its own ServerRoot under /var/tmp (run/ and logs/ in it, plus DIRS), its
    own loopback ports, PidFile, runtime dir, mutexes and error_log; started, signalled and
    stopped through `HTTPD -f ROOT/httpd.conf -k ...`.

      name      the root is /var/tmp/flaskpp-NAME.XXXXXX
      conf      the configuration: a callable (instance -> text), or a text whose @ROOT@,
                @MODULES_DIR@, @PORT_NAME@ (one per port) and @KEY@ (one per VALUES key) are filled in
                (attribute `template`; a subclass may override conf_text() instead)
      ports     the names of the ports chosen at each start() (self.ports; self.port is the first)
      env       variables added to os.environ for every apache2 run (e.g. a random SECRET_KEY);
                None: each run sees os.environ as it is then
      httpd     the binary (default: HTTPD above)
      health    the path start() polls on the first port until it answers 200
    """

    def __init__(self, name, conf=None, dirs=(), ports=("PORT",), values=None, env=None, httpd=None,
                 health="/health", start_timeout=20, stop_timeout=15):
        self.root = tempfile.mkdtemp(prefix="flaskpp-%s." % name, dir="/var/tmp")
        os.chmod(self.root, 0o755)
        for d in ("run", "logs") + tuple(dirs):
            os.mkdir(os.path.join(self.root, d))
        self.conf = os.path.join(self.root, "httpd.conf")
        self.log = os.path.join(self.root, "logs", "error_log")
        self.pidfile = os.path.join(self.root, "run", "httpd.pid")
        self.template = conf
        self.values = dict(values or {})
        self.port_names = list(ports)
        self.ports = {}
        self.env = None if env is None else dict(os.environ, **env)
        self.bin = httpd or HTTPD
        self.health = health
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout

    # --- layout and configuration
    def copy_demo(self, source):
        """The demo's files as conf/httpd.conf.in serves them: conf/, htdocs/, templates/, models/
        copied from the checkout SOURCE, all world-readable; htdocs/static/img (FlaskppUploadDir)
        owned by www-data, which the children write as."""
        for d in ("conf", "htdocs", "templates", "models"):
            shutil.copytree(os.path.join(source, d), os.path.join(self.root, d))
        subprocess.run(["chmod", "-R", "a+rX", self.root], check=True)
        shutil.chown(os.path.join(self.root, "htdocs", "static", "img"), "www-data", "www-data")

    @property
    def port(self):
        return self.ports.get(self.port_names[0]) if self.port_names else None

    def url(self, path, which=None):
        return "http://127.0.0.1:%d%s" % (self.ports[which] if which else self.port, path)

    def choose_ports(self):
        self.ports = dict(zip(self.port_names, free_ports(len(self.port_names))))

    def conf_text(self):
        if callable(self.template):
            return self.template(self)
        text = self.template
        fill = dict(self.values, ROOT=self.root, MODULES_DIR=modules_dir() if "@MODULES_DIR@" in text else "")
        fill.update((name, str(port)) for name, port in self.ports.items())
        for key, value in fill.items():
            text = text.replace("@%s@" % key, value)
        return text

    def write_conf(self):
        with open(self.conf, "w") as f:
            f.write(self.conf_text())

    def conf_head(self, modules, module, modules_dir=None, listen=None):
        """The lines every private instance starts with: ServerRoot, ServerName, Listen (LISTEN, or
        each port on 127.0.0.1), PidFile, runtime dir and mutexes in ROOT/run, User/Group www-data,
        then LoadModule for Apache's MODULES (from MODULES_DIR, default apxs's) and mod_flaskpp."""
        root = self.root
        listens = "".join("Listen %s\n" % l for l in (listen or ["127.0.0.1:%d" % self.ports[name]
                                                                  for name in self.port_names]))
        return f"""ServerRoot "{root}"
ServerName 127.0.0.1
{listens}PidFile "{root}/run/httpd.pid"
DefaultRuntimeDir "{root}/run"
Mutex file:{root}/run default
User www-data
Group www-data

{load_modules(modules, modules_dir)}LoadModule flaskpp_module "{module}"
"""

    def conf_docroot(self):
        """DocumentRoot ROOT/htdocs, readable by all (no index pages), and nothing else."""
        root = self.root
        return f"""DocumentRoot "{root}/htdocs"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{root}/htdocs">
    Options -Indexes
    Require all granted
</Directory>
"""

    # --- running
    def httpd(self, *args, env=None, **kw):
        """HTTPD -f CONF ARGS (output captured as text), in self.env unless ENV is given."""
        return run([self.bin, "-f", self.conf] + list(args), text=True,
                   env=self.env if env is None else env, **kw)

    def answers(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            try:
                c.request("GET", self.health)
                return c.getresponse().status == 200
            finally:
                c.close()
        except (OSError, http.client.HTTPException):
            return False

    def start(self, configured=False):
        """Chooses ports, writes the configuration, empties the error_log and starts Apache, until
        it answers (5 tries: a port taken between choosing and binding). configured: the
        configuration is written already (a start after a stop or a kill, or one checked with -t
        first): one try as it is, the error_log kept."""
        res = None
        for _ in range(1 if configured else 5):
            if not configured:
                self.choose_ports()
                self.write_conf()
                open(self.log, "w").close()
            res = self.httpd("-k", "start")
            if res.returncode == 0 and wait_until(self.answers, self.start_timeout):
                return True
            if not configured:
                self.stop()
        raise ApacheDidNotStart("Apache did not start:\n%s%s\n%s" % (res.stdout, res.stderr, self.log_text()))

    def graceful(self):
        return self.httpd("-k", "graceful")

    def parent_pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def children(self):
        pid = self.parent_pid()
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return set(int(p) for p in f.read().split())
        except (OSError, TypeError):
            return set()

    def stop(self):
        """`-k stop`, then waits (stop_timeout) until the parent's /proc entry is gone; its pid."""
        pid = self.parent_pid()
        self.httpd("-k", "stop")
        if pid:
            wait_until(lambda: not os.path.exists("/proc/%d" % pid), self.stop_timeout)
        return pid

    # --- the error_log and the root
    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_text(self, start=0):
        try:
            with open(self.log, "rb") as f:
                f.seek(start)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def generations(self):
        return self.log_text().count(GENERATION)

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


class BalancerFront(PrivateApache):
    """A front Apache running conf/balancer-flaskpp.conf of the checkout SOURCE as shipped, its two
    BalancerMember lines defined as MEMBERS' ports (one member: both lines name it, so it gets every
    request). MODULE is only passed to conf_head(), whose LoadModule line for it is dropped."""

    MODULES = ["mpm_event", "authz_core", "headers", "proxy", "proxy_http", "proxy_balancer",
               "lbmethod_byrequests", "slotmem_shm", "proxy_hcheck"]

    def __init__(self, name, members, module, source, extra=""):
        super().__init__(name, conf=None)
        self.members, self.module, self.source, self.extra = tuple(members), module, source, extra

    def conf_text(self):
        head = self.conf_head(self.MODULES, self.module).replace(
            'LoadModule flaskpp_module "%s"\n' % self.module, "")
        first, second = self.members[0], self.members[-1]
        return head + """ErrorLog "%s/logs/error_log"
LogLevel warn
%sDefine FLASKPP_BACKEND_1 http://127.0.0.1:%d
Define FLASKPP_BACKEND_2 http://127.0.0.1:%d
Include "%s/conf/balancer-flaskpp.conf"
""" % (self.root, self.extra, first.port, second.port, self.source)


# A backend's access log that answered() counts: status, path, client address.
COUNTED_ACCESS_LOG = 'CustomLog "@ROOT@/logs/access_log" "%>s %U %a"\n'


def answered(inst, path):
    """Requests for PATH in INST's access log (COUNTED_ACCESS_LOG's format)."""
    try:
        with open(os.path.join(inst.root, "logs", "access_log")) as f:
            return sum(1 for line in f if line.split()[1:2] == [path])
    except OSError:
        return 0


# The demo's access log (conf/httpd.conf.in's format); @ROOT@: the instance's root.
DEMO_ACCESS_LOG = """LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D %L" combined_us
CustomLog "@ROOT@/logs/access_log" combined_us
"""


def demo_conf(inst, module, build, modules, mpm, extra, access_log=None, log_level="warn flaskpp:info",
              listen=None, title="", modules_dir=None):
    """The demo's server as conf/httpd.conf.in makes it (minus rotatelogs) for the PrivateApache
    INST (which copy_demo() laid out): conf_head() with Apache's MODULES and mod_flaskpp (MODULE),
    the MPM lines, LogLevel, the access log's LogFormat/CustomLog lines (default: the demo's
    combined_us; "": none), the demo's
    conf/flaskpp-server.conf and conf/flaskpp.conf with its plugins from BUILD/examples, then what
    the test adds (EXTRA). LISTEN: the Listen arguments (default: every port). TITLE: the first
    line's comment. MODULES_DIR: where Apache's modules are (default apxs's)."""
    root = inst.root
    head = inst.conf_head(modules, module, modules_dir, listen)
    docroot = inst.conf_docroot()
    if access_log is None:
        access_log = DEMO_ACCESS_LOG.replace("@ROOT@", root)
    return f"""# {title}
{head}{mpm}
TypesConfig /etc/mime.types
AddDefaultCharset utf-8

ErrorLog "{root}/logs/error_log"
LogLevel {log_level}
ErrorLogFormat "[%{{u}}t] [%-m:%l] [pid %P:tid %T] [id %L] [client %a] %M"
{access_log}
{docroot}
# The demo, included exactly as conf/httpd.conf.in does (FlaskppSecretKey env:SECRET_KEY: the
# instance's env has a random key).
Define FLASKPP_ROOT "{root}"
Define FLASKPP_PLUGIN_DIR "{build}/examples"
Include conf/flaskpp-server.conf
Include conf/flaskpp.conf
{extra}"""


# A small event MPM for tests that need two children (their processes told apart) and little else.
TWO_CHILDREN_MPM = """StartServers 2
ServerLimit 2
ThreadsPerChild 8
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16
"""


def remove_unless_bad_lines(instances, provoked):
    """After a test: each instance's error_log lines that BAD_LINE matches and the regex PROVOKED
    does not (what nobody provoked on purpose). None: the roots are removed; else they are kept for
    inspection and AssertionError lists the lines."""
    unexpected = [l for inst in instances for l in inst.log_text().splitlines()
                  if BAD_LINE.search(l) and not re.search(provoked, l)]
    for inst in instances:
        if unexpected:
            print("instance kept for inspection: %s" % inst.root)
        else:
            inst.remove()
    if unexpected:
        raise AssertionError("warn/error lines not provoked on purpose:\n" + "\n".join(unexpected[:10]))


class PrivateRedis:
    """A private redis-server (issue 12's tests): loopback, a free port, its own directory; no
    persistence, or with durable=True an append-only file fsynced on every write, so that a
    restart (start() after kill()) on the same port and directory keeps what was acknowledged."""

    def __init__(self, durable=False):
        self.dir = tempfile.mkdtemp(prefix="flaskpp-redis.", dir="/var/tmp")
        self.port = free_ports(1)[0]
        self.durable = durable
        self.proc = None

    def start(self):
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", ""] + persistence + ["--dir", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(self.answers, 10):
            raise AssertionError("redis-server did not answer on port %d" % self.port)

    def answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self):
        if self.proc:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def remove(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
