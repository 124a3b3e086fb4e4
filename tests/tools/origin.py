#!/usr/bin/env python3
"""origin.py: a small HTTP/1.1 origin server for mcxproxy's demo and tests.

It plays the own-domain HTTP servers (KMS, GMS, ...) behind the proxy and
offers the endpoints the integration tests need to observe what the proxy
did to a request: raw headers, body sizes and hashes, connection reuse.
Standard library only (Debian's python3).  Keep-alive, one thread per
connection.

Usage:
    origin.py --listen 127.0.0.1:0 [--name kms] [--ready-file F] [--quiet]
              [--log-requests FILE] [--idle-timeout S]
    origin.py --emit-bytes N        # the /bytes pattern on stdout, for checksums

Endpoints (every response carries X-Origin-Name, X-Conn-Id, X-Conn-Reqs):
    POST /keymanagement/identity/v1/...  KmsResponse XML (TS 33.180 D.3.1 shape)
    GET|HEAD|PUT|DELETE /org.openmobilealliance.groups/...  XCAP group document
                                    (ETag; If-None-Match: 304; If-Match: 412
                                    unless "*" or the current ETag)
    GET /bytes?n=N[&chunked=1][&close=1]  N pattern bytes: sized, chunked or
                                          close-delimited
    * /upload...                    "bytes=N sha256=HEX" of the request body
    POST /echo                      the body back, same Content-Type and framing
    * /headers                      request line and header lines as received
    * /slow?ms=N                    answers after N ms
    * /status?code=N                that status (401 carries WWW-Authenticate)
    * /conn                         "conn=ID reqs=N" for this connection
    GET /stats                      {"connections": N, "requests": N}
    * /drop                         closes the connection without answering
    * /garbage                      answers bytes that are not HTTP
    anything else                   "origin NAME: METHOD TARGET"
"""

import argparse
import hashlib
import http.server
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape

PIECE = 256 * 1024          # write size for generated bodies
CHUNK = 64 * 1024           # chunk size of generated chunked bodies
MAX_LINE = 8192             # longest chunk-size or trailer line accepted
KMS_BODY_MAX = 1 << 20      # KMS request bytes kept for parsing (rest drained)


def make_block():
    """64 KiB of 16-byte lines "<15 hex digits of offset>\\n"; offsets are
    within the block, so any slice of the stream says where it came from."""
    return b"".join(b"%015x\n" % off for off in range(0, 65536, 16))


BLOCK = make_block()
PIECE_DATA = BLOCK * (PIECE // len(BLOCK))


def pattern_pieces(n):
    """Yields the first n bytes of the endless BLOCK pattern in PIECE slices."""
    while n > 0:
        k = min(n, PIECE)
        yield PIECE_DATA if k == PIECE else PIECE_DATA[:k]
        n -= k


class BadRequest(Exception):
    """The request body is malformed; answer 400 (or 501) and close."""

    def __init__(self, msg, code=400):
        super().__init__(msg)
        self.code = code


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = 0

    def new_connection(self):
        with self.lock:
            self.connections += 1
            return self.connections

    def new_request(self):
        with self.lock:
            self.requests += 1

    def snapshot(self):
        with self.lock:
            return {"connections": self.connections,
                    "requests": self.requests}


class _Recorder:
    """Wraps rfile while the head is parsed so the raw header lines are kept."""

    def __init__(self, fp):
        self.fp = fp
        self.lines = []

    def readline(self, *args):
        line = self.fp.readline(*args)
        self.lines.append(line)
        return line

    def __getattr__(self, name):
        return getattr(self.fp, name)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "origin"
    sys_version = ""

    # ---- per connection -------------------------------------------------

    def setup(self):
        super().setup()
        self.conn_id = self.server.stats.new_connection()
        self.conn_reqs = 0
        if self.server.idle_timeout:
            self.connection.settimeout(self.server.idle_timeout)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def parse_request(self):
        real = self.rfile
        rec = _Recorder(real)
        self.rfile = rec
        try:
            ok = super().parse_request()
        finally:
            self.rfile = real
        self.raw_lines = [self.raw_requestline] + rec.lines
        return ok

    def __getattr__(self, name):
        # Every method (PATCH, OPTIONS, custom ones) goes to the dispatcher.
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    # ---- logging --------------------------------------------------------

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("origin %s: %s %s\n" % (
                self.server.name, self.address_string(), fmt % args))

    def log_target(self):
        path = self.server.log_requests
        if path:
            with self.server.log_lock, open(path, "a") as f:
                f.write("%s %s\n" % (self.command, self.path))

    # ---- response helpers -------------------------------------------------

    def version_string(self):
        return "origin"

    def send_response(self, code, message=None):
        super().send_response(code, message)
        self.send_header("X-Origin-Name", self.server.name)
        self.send_header("X-Conn-Id", str(self.conn_id))
        self.send_header("X-Conn-Reqs", str(self.conn_reqs))

    def begin(self, code, ctype=None, length=None, headers=(), chunked=False):
        """Sends the status line and headers.  length None and not chunked
        means close-delimited."""
        self.began = True
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if chunked and self.request_version == "HTTP/1.0":
            chunked = False     # 1.0 peers cannot read chunks: close instead
        self.chunked_out = chunked
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif length is not None:
            self.send_header("Content-Length", str(length))
        elif code not in (204, 304) and not 100 <= code < 200:
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")
        self.end_headers()

    def write(self, data):
        if self.command == "HEAD" or not data:
            return
        if self.chunked_out:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.wfile.write(data)

    def finish_body(self):
        if self.command != "HEAD" and self.chunked_out:
            self.wfile.write(b"0\r\n\r\n")

    def reply(self, code, body=b"", ctype="text/plain", headers=()):
        if isinstance(body, str):
            body = body.encode()
        if code in (204, 304):
            body = b""
        self.begin(code, ctype if body else None, len(body), headers)
        self.write(body)

    # ---- request body -----------------------------------------------------

    def body(self):
        """Yields the request body (Content-Length or chunked) in pieces."""
        if self.body_started:
            raise RuntimeError("request body read twice")
        self.body_started = True
        te = self.headers.get_all("Transfer-Encoding") or []
        codings = [c.strip().lower() for v in te for c in v.split(",")
                   if c.strip()]
        if codings:
            if codings != ["chunked"]:
                raise BadRequest("unsupported transfer coding %r" % te, 501)
            if self.headers.get("Content-Length") is not None:
                self.close_connection = True
            yield from self.chunked_body()
            return
        cl = self.headers.get_all("Content-Length") or []
        if not cl:
            return
        if len(set(v.strip() for v in cl)) != 1 or \
                not re.fullmatch(r"[0-9]+", cl[0].strip()):
            raise BadRequest("bad Content-Length %r" % cl)
        left = int(cl[0])
        while left > 0:
            data = self.rfile.read(min(left, PIECE))
            if not data:
                raise BadRequest("body ends %d bytes early" % left)
            left -= len(data)
            yield data

    def chunked_body(self):
        while True:
            line = self.rfile.readline(MAX_LINE)
            if not line.endswith(b"\n"):
                raise BadRequest("bad or missing chunk-size line")
            size = line.split(b";", 1)[0].strip()
            if not re.fullmatch(rb"[0-9a-fA-F]{1,15}", size):
                raise BadRequest("bad chunk size %r" % size)
            left = int(size, 16)
            if left == 0:
                break
            while left > 0:
                data = self.rfile.read(min(left, PIECE))
                if not data:
                    raise BadRequest("chunk ends early")
                left -= len(data)
                yield data
            if self.rfile.readline(MAX_LINE) not in (b"\r\n", b"\n"):
                raise BadRequest("chunk data not followed by CRLF")
        while True:                         # trailer section
            line = self.rfile.readline(MAX_LINE)
            if not line.endswith(b"\n"):
                raise BadRequest("bad trailer section")
            if line in (b"\r\n", b"\n"):
                return

    def drain(self):
        if not self.body_started:
            for _ in self.body():
                pass

    # ---- dispatch -----------------------------------------------------------

    def dispatch(self):
        self.conn_reqs += 1
        self.server.stats.new_request()
        self.body_started = False
        self.began = False
        self.chunked_out = False
        self.log_target()
        url = urllib.parse.urlsplit(self.path)
        self.url_path = url.path or "/"
        self.query = dict(urllib.parse.parse_qsl(url.query))
        p = self.url_path
        try:
            if p.startswith("/keymanagement/identity/v1/") and \
                    self.command == "POST":
                self.kms()
            elif p.startswith("/org.openmobilealliance.groups/"):
                self.xcap()
            elif p == "/bytes":
                self.bytes_()
            elif p.startswith("/upload"):
                self.upload()
            elif p == "/echo":
                self.echo()
            elif p == "/headers":
                self.drain()
                self.reply(200, b"".join(
                    ln.rstrip(b"\r\n") + b"\n" for ln in self.raw_lines
                    if ln not in (b"\r\n", b"\n")))
            elif p == "/slow":
                self.drain()
                ms = int(self.query.get("ms", "1000"))
                time.sleep(ms / 1000.0)
                self.reply(200, "slept %d ms\n" % ms)
            elif p == "/status":
                self.status()
            elif p == "/conn":
                self.drain()
                self.reply(200, "conn=%d reqs=%d\n" %
                           (self.conn_id, self.conn_reqs))
            elif p == "/stats":
                self.drain()
                self.reply(200, json.dumps(self.server.stats.snapshot()) +
                           "\n", "application/json")
            elif p == "/drop":
                self.close_connection = True
            elif p == "/garbage":
                self.close_connection = True
                self.wfile.write(b"this is not HTTP\r\n\r\n")
            else:
                self.drain()
                self.reply(200, "origin %s: %s %s\n" %
                           (self.server.name, self.command, self.path))
        except BadRequest as e:
            self.close_connection = True
            self.log_message("bad request body: %s", e)
            if not self.began:
                self.reply(e.code, "%s\n" % e)
        except ValueError as e:
            self.close_connection = True
            if not self.began:
                self.reply(400, "bad parameter: %s\n" % e)
        self.wfile.flush()

    # ---- endpoints ------------------------------------------------------------

    def kms(self):
        kept = bytearray()
        for data in self.body():
            if len(kept) < KMS_BODY_MAX:
                kept += data[:KMS_BODY_MAX - len(kept)]
        text = kept.decode("utf-8", "replace")

        def field(name, default):
            m = re.search(r"<(?:\w+:)?%s\b[^>]*>([^<]*)<" % re.escape(name),
                          text)
            return m.group(1).strip() if m else default

        host = (self.headers.get("Host") or "kms.example").split(":")[0]
        user = field("UserUri", "sip:unknown@" + host.split(".", 1)[-1])
        kms_uri = field("KmsUri", host)
        req_url = field("ClientReqUrl", "https://%s%s" % (host, self.path))
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        op = self.url_path[len("/keymanagement/identity/v1/"):].split("/")[0]
        if op == "keyprov":
            msg = ("<KmsKeyProv Version=\"1.0.0\">\n"
                   "      <KmsKeySet Version=\"1.1.0\">\n"
                   "        <KmsUri>{k}</KmsUri>\n"
                   "        <CertUri>{k}.root</CertUri>\n"
                   "        <Issuer>www.{k}</Issuer>\n"
                   "        <UserUri>{u}</UserUri>\n"
                   "        <UserID>{i}</UserID>\n"
                   "        <ValidityPeriod>1</ValidityPeriod>\n"
                   "        <Revoked>false</Revoked>\n"
                   "        <UserDecryptKey>{d}</UserDecryptKey>\n"
                   "        <UserSigningKeySSK>{s}</UserSigningKeySSK>\n"
                   "        <UserPubTokenPVT>{p}</UserPubTokenPVT>\n"
                   "      </KmsKeySet>\n"
                   "    </KmsKeyProv>")
        elif op == "certcache":
            msg = ("<KmsCertCache Version=\"1.0.0\" CacheNum=\"1\">\n"
                   "      <SignedKmsCertificate>{c}</SignedKmsCertificate>\n"
                   "    </KmsCertCache>")
        else:
            msg = "<KmsInit Version=\"1.0.0\">\n" \
                  "      <SignedKmsCertificate>{c}</SignedKmsCertificate>\n" \
                  "    </KmsInit>"
        digest = hashlib.sha256(user.encode()).hexdigest()
        cert = ("\n        <KmsCertificate Version=\"1.1.0\" Role=\"Root\">\n"
                "          <CertUri>{k}.root</CertUri>\n"
                "          <KmsUri>{k}</KmsUri>\n"
                "          <Issuer>www.{k}</Issuer>\n"
                "          <UserIdFormat>2</UserIdFormat>\n"
                "          <PubEncKey>04{d}</PubEncKey>\n"
                "          <PubAuthKey>04{s}</PubAuthKey>\n"
                "          <ParameterSet>1</ParameterSet>\n"
                "        </KmsCertificate>\n      ")
        msg = msg.replace("{c}", cert)
        msg = msg.format(k=escape(kms_uri), u=escape(user), i=digest[:32],
                         d=digest, s=digest[::-1], p="04" + digest)
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<KmsResponse xmlns=\"urn:3gpp:ns:mcsecKMSInterface:1.0\" "
                "Version=\"1.1.0\">\n"
                "  <UserUri>%s</UserUri>\n"
                "  <KmsUri>%s</KmsUri>\n"
                "  <KmsId>%s</KmsId>\n"
                "  <Time>%s</Time>\n"
                "  <ClientReqUrl>%s</ClientReqUrl>\n"
                "  <KmsMessage>\n    %s\n  </KmsMessage>\n"
                "</KmsResponse>\n") % (
                    escape(user), escape(kms_uri), escape(self.server.name),
                    now, escape(req_url), msg)
        self.reply(200, body, "application/xml")

    def xcap(self):
        self.drain()
        m = re.search(r"/users/([^/]+)/([^/]+)", self.url_path)
        owner = urllib.parse.unquote(m.group(1)) if m else "sip:unknown"
        doc = urllib.parse.unquote(m.group(2)) if m else "index"
        etag = '"%s"' % hashlib.sha256(self.url_path.encode()).hexdigest()[:16]
        im = self.headers.get("If-Match")
        if im is not None:      # RFC 9110 13.1.1: "*" or a list of ETags
            tags = [t.strip() for t in im.split(",")]
            if "*" not in tags and etag not in tags:
                self.reply(412, "precondition failed: current ETag is %s\n"
                           % etag, headers=[("ETag", etag)])
                return
        if self.command in ("PUT", "DELETE"):
            self.reply(201 if self.command == "PUT" else 200,
                       headers=[("ETag", etag)])
            return
        if self.headers.get("If-None-Match") == etag:
            self.reply(304, headers=[("ETag", etag)])
            return
        dom = owner.split("@", 1)[-1]
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<list-service xmlns=\"urn:oma:xml:poc:list-service\" "
                "uri=\"sip:%s@%s\">\n"
                "  <display-name xml:lang=\"en-us\">%s</display-name>\n"
                "  <list>\n"
                "    <entry uri=\"%s\"/>\n"
                "    <entry uri=\"sip:bob@%s\"/>\n"
                "  </list>\n"
                "</list-service>\n") % (
                    escape(doc), escape(dom), escape(doc), escape(owner),
                    escape(dom))
        self.reply(200, body, "application/vnd.oma.poc.groups+xml",
                   [("ETag", etag)])

    def bytes_(self):
        self.drain()
        n = int(self.query.get("n", "0"))
        if n < 0:
            raise ValueError("n < 0")
        ctype = "application/octet-stream"
        if self.query.get("close") == "1":
            self.close_connection = True
            self.begin(200, ctype)
            for piece in pattern_pieces(n):
                self.write(piece)
        elif self.query.get("chunked") == "1":
            self.begin(200, ctype, chunked=True)
            if self.chunked_out:
                for piece in pattern_pieces(n):
                    if self.command == "HEAD":
                        break
                    self.wfile.write(b"".join(
                        b"%x\r\n%s\r\n" % (len(piece[i:i + CHUNK]),
                                           piece[i:i + CHUNK])
                        for i in range(0, len(piece), CHUNK)))
                self.finish_body()
            else:
                for piece in pattern_pieces(n):
                    self.write(piece)
        else:
            self.begin(200, ctype, n)
            for piece in pattern_pieces(n):
                self.write(piece)

    def upload(self):
        h = hashlib.sha256()
        n = 0
        for data in self.body():
            h.update(data)
            n += len(data)
        hexd = h.hexdigest()
        self.reply(200, "bytes=%d sha256=%s\n" % (n, hexd), headers=[
            ("X-Body-Bytes", str(n)), ("X-Body-Sha256", hexd)])

    def echo(self):
        ctype = self.headers.get("Content-Type", "application/octet-stream")
        te = self.headers.get("Transfer-Encoding")
        cl = self.headers.get("Content-Length")
        if te is None and cl is not None and re.fullmatch(r"[0-9]+",
                                                          cl.strip()):
            self.begin(200, ctype, int(cl))
        elif te is None:
            self.begin(200, ctype, 0)
        else:
            self.begin(200, ctype, chunked=True)
        for data in self.body():
            self.write(data)
        self.finish_body()

    def status(self):
        self.drain()
        code = int(self.query.get("code", "200"))
        if not 200 <= code <= 599:
            raise ValueError("code must be 200..599")
        headers = []
        if code == 401:
            headers.append(("WWW-Authenticate", 'Bearer error="invalid_token"'))
        elif code in (301, 302, 303, 307, 308):
            headers.append(("Location", "/"))
        elif code == 503:
            headers.append(("Retry-After", "1"))
        self.reply(code, "status %d\n" % code, headers=headers)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def parse_listen(spec):
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:([0-9]+)|([^:\[\]]+):([0-9]+)",
                     spec)
    if not m:
        raise argparse.ArgumentTypeError("expected HOST:PORT or [V6]:PORT")
    if m.group(1):
        return m.group(1), int(m.group(2)), socket.AF_INET6
    return m.group(3), int(m.group(4)), socket.AF_INET


def write_ready(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", type=parse_listen, default="127.0.0.1:0",
                    help="HOST:PORT or [V6]:PORT; port 0 picks a free one")
    ap.add_argument("--name", default="origin")
    ap.add_argument("--ready-file", help="gets the bound port once listening")
    ap.add_argument("--log-requests", help="appends 'METHOD TARGET' lines")
    ap.add_argument("--idle-timeout", type=float, default=None,
                    help="close a connection idle this many seconds")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--emit-bytes", type=int, metavar="N",
                    help="print the /bytes?n=N body to stdout and exit")
    args = ap.parse_args()

    if args.emit_bytes is not None:
        out = sys.stdout.buffer
        for piece in pattern_pieces(args.emit_bytes):
            out.write(piece)
        out.flush()
        return 0

    if isinstance(args.listen, str):
        args.listen = parse_listen(args.listen)
    host, port, family = args.listen
    Server.address_family = family
    srv = Server((host, port), Handler)
    srv.name = args.name
    srv.quiet = args.quiet
    srv.log_requests = args.log_requests
    srv.log_lock = threading.Lock()
    srv.idle_timeout = args.idle_timeout
    srv.stats = Stats()
    bound = srv.server_address[1]
    if args.log_requests:
        open(args.log_requests, "a").close()
    if args.ready_file:
        write_ready(args.ready_file, bound)
    if not args.quiet:
        sys.stderr.write("origin %s: listening on %s port %d\n" %
                         (args.name, host, bound))
    try:
        srv.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
