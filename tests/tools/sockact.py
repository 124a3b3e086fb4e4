#!/usr/bin/env python3
"""sockact.py: systemd's socket activation and "systemctl restart", without
systemd, for tests/integration/85-socket-activation.sh; and the load client
that counts what a restart costs.

  sockact.py run --status FILE [--listen ADDR]... [--v6only] -- MCXPROXY ARGS...
      Binds and listens on every ADDR once ("127.0.0.1:8080", "[::]:8443"),
      then runs MCXPROXY with them as descriptors 3, 4, ... and LISTEN_FDS,
      LISTEN_FDNAMES and LISTEN_PID set (the child's own pid, set between
      fork and exec), as systemd does for a service with a .socket unit.
      Without --listen nothing is passed: the proxy binds its own sockets
      (the control case).  NOTIFY_SOCKET is set, as for Type=notify.
      SIGUSR1: restart, as systemctl restart does: SIGTERM, wait for the
      exit, start again; the listening sockets stay open throughout.
      SIGHUP: passed on to the proxy.  SIGTERM/SIGINT: stop the proxy and
      exit with its status.  When the proxy exits by itself, so does this,
      with its status.  Appends to FILE, one event a line:
        start N PID     the Nth start
        ready N PID     the Nth READY=1 (at start, and after each reload)
        exit PID STATUS
  sockact.py load --out FILE --stop-file FILE [--target ...]...
      Clients in parallel (one thread per --target, repeated for more), each
      a loop of requests, one connection each (so every request needs an
      accept), until STOP-FILE exists (or --max-seconds).  A target is
      "plain:HOST:PORT:VHOST" or "tls:HOST:PORT:VHOST" (--cafile).  Writes
      "requests N ok N refused N failed N" to --out, and the first few
      failures after it.  A request fails unless the answer is a 200.
"""

import argparse
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time


def split_addr(spec):
    host, _, port = spec.rpartition(":")
    return host.strip("[]"), int(port)


# ---- run ------------------------------------------------------------------

def bind(spec, v6only):
    host, port = split_addr(spec)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        # BindIPv6Only=both (what the proxy wants for "[::]") or ipv6-only
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
    s.bind((host, port))
    s.listen(1024)          # systemd's Backlog= default is SOMAXCONN
    return s


class Runner:
    def __init__(self, opts):
        self.opts = opts
        self.socks = [bind(a, opts.v6only) for a in opts.listen]
        # Out of the way of 3, 4, ... where the child wants them.
        self.high = [os.dup2(s.fileno(), 200 + i, inheritable=False)
                     for i, s in enumerate(self.socks)]
        self.notify_path = os.path.abspath(opts.status + ".notify")
        try:
            os.unlink(self.notify_path)
        except FileNotFoundError:
            pass
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.status = open(opts.status, "a", buffering=1)
        self.pid = 0
        self.starts = 0
        self.readies = 0
        self.restart = False
        self.hup = False
        self.stop = False

    def event(self, *words):
        self.status.write(" ".join(str(w) for w in words) + "\n")

    def spawn(self):
        argv = self.opts.command
        pid = os.fork()
        if pid == 0:
            try:
                env = dict(os.environ)
                env["NOTIFY_SOCKET"] = self.notify_path
                if self.high:
                    for i, fd in enumerate(self.high):
                        os.dup2(fd, 3 + i, inheritable=True)
                    env["LISTEN_FDS"] = str(len(self.high))
                    env["LISTEN_FDNAMES"] = ":".join(["test.socket"] * len(self.high))
                    env["LISTEN_PID"] = str(os.getpid())
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid = pid
        self.starts += 1
        self.event("start", self.starts, pid)

    def reap(self, block):
        """Returns the exit status when the child has exited, else None."""
        pid, st = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return None
        rc = os.waitstatus_to_exitcode(st)
        self.event("exit", self.pid, rc)
        self.pid = 0
        return rc

    def terminate(self):
        os.kill(self.pid, signal.SIGTERM)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            rc = self.reap(False)
            if rc is not None:
                return rc
            time.sleep(0.005)
        os.kill(self.pid, signal.SIGKILL)
        return self.reap(True)

    def main(self):
        def flag(name):
            def handler(sig, frame):
                setattr(self, name, True)
            return handler
        signal.signal(signal.SIGUSR1, flag("restart"))
        signal.signal(signal.SIGHUP, flag("hup"))
        signal.signal(signal.SIGTERM, flag("stop"))
        signal.signal(signal.SIGINT, flag("stop"))
        self.spawn()
        while True:
            if self.stop:
                return self.terminate()
            if self.restart:
                self.restart = False
                self.terminate()
                self.spawn()
            if self.hup:
                self.hup = False
                os.kill(self.pid, signal.SIGHUP)
            rc = self.reap(False)
            if rc is not None:
                return rc if rc >= 0 else 128 - rc
            r, _, _ = select.select([self.notify], [], [], 0.02)
            if r:
                msg = self.notify.recv(4096).decode(errors="replace")
                if "READY=1" in msg.split("\n"):
                    self.readies += 1
                    self.event("ready", self.readies, self.pid)


# ---- load -----------------------------------------------------------------

class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.refused = 0
        self.failed = 0
        self.why = []

    def add(self, what, why=None):
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)
            if why is not None and len(self.why) < 10:
                self.why.append(why)


def one_request(target, ctx, timeout):
    kind, host, port, vhost = target
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        if kind == "tls":
            s = ctx.wrap_socket(s, server_hostname=vhost)
        s.sendall(("GET /sockact HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                   % vhost).encode())
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    finally:
        s.close()
    return data


def client(target, ctx, opts, counts, end):
    while not os.path.exists(opts.stop_file) and time.monotonic() < end:
        try:
            data = one_request(target, ctx, opts.timeout)
        except ConnectionRefusedError as e:
            counts.add("refused", "%s:%d: %s" % (target[1], target[2], e))
            continue
        except (OSError, ssl.SSLError) as e:
            counts.add("failed", "%s:%d: %r" % (target[1], target[2], e))
            continue
        if data.startswith(b"HTTP/1.1 200 "):
            counts.add("ok")
        else:
            counts.add("failed", "%s:%d: answer %r" % (target[1], target[2],
                                                        data[:80]))


def load(opts):
    ctx = None
    if opts.cafile:
        ctx = ssl.create_default_context(cafile=opts.cafile)
    targets = []
    for t in opts.target:
        kind, rest = t.split(":", 1)
        hostport, _, vhost = rest.rpartition(":")
        host, port = split_addr(hostport)
        targets.append((kind, host, port, vhost))
    counts = Counts()
    end = time.monotonic() + opts.max_seconds
    threads = [threading.Thread(target=client, args=(t, ctx, opts, counts, end))
               for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(opts.out + ".tmp", "w") as f:
        f.write("requests %d ok %d refused %d failed %d\n" % (
            counts.ok + counts.refused + counts.failed, counts.ok,
            counts.refused, counts.failed))
        for w in counts.why:
            f.write("  %s\n" % w)
    os.rename(opts.out + ".tmp", opts.out)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--status", required=True)
    r.add_argument("--listen", action="append", default=[])
    r.add_argument("--v6only", action="store_true")
    r.add_argument("command", nargs="+")
    lo = sub.add_parser("load")
    lo.add_argument("--out", required=True)
    lo.add_argument("--stop-file", required=True)
    lo.add_argument("--target", action="append", required=True)
    lo.add_argument("--cafile")
    lo.add_argument("--timeout", type=float, default=10)
    lo.add_argument("--max-seconds", type=float, default=60)
    opts = ap.parse_args()
    if opts.cmd == "run":
        return Runner(opts).main()
    return load(opts)


if __name__ == "__main__":
    sys.exit(main())
