"""Helpers shared by the Python tests that run a private Apache of their own (status, TLS/HTTP2,
hostile HTTP, restarts): imported from the test's own directory, nothing runs at import."""
import random
import socket
import struct
import subprocess
import time
import zlib


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
