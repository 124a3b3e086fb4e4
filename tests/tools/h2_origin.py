#!/usr/bin/python3
"""h2_origin.py: an HTTP/2 origin server for mcxproxy's upstream HTTP/2 tests.

It plays an own-domain server that speaks HTTP/2: h2c with prior knowledge
on plain TCP, or TLS with ALPN "h2" only (--tls).  Single-threaded asyncio
and python3-h2 (Debian package; run it with /usr/bin/python3, a pyenv
python3 usually lacks h2).  Many streams share one connection; timers never
block other streams; request bodies are read with flow control (every DATA
byte is acknowledged at once) and response bodies are sent as the peer's
windows allow.

Usage:
    h2_origin.py [--listen 127.0.0.1:0] [--name NAME] [--ready-file F]
                 [--tls CERT KEY] [--log F] [--max-concurrent-streams N]
                 [--initial-window N] [--quiet]

The --log file gets one line per event, flushed at once:
    CONN STREAM METHOD PATH         a request arrived (every attempt of it)
    RST stream S code C conn N      the peer reset a stream (8 = CANCEL)
    REFUSE stream S conn N          /refuse answered RST_STREAM REFUSED_STREAM
    GOAWAY conn N last K code C     /goaway sent a GOAWAY
    IGNORE stream S conn N above K  a stream above a GOAWAY's last id: no answer
    PING conn N acked|ignored       a PING arrived (ignored after /noping)
    PEER-GOAWAY conn N code C last K
    CLOSE conn N after GOAWAY       this server closes it (see /goaway)
    CLOSED conn N                   the connection is gone (either side)
    VIOLATION conn N stream S: WHY  the request broke RFC 9113 (8.2, 8.3),
                                    e.g. an uppercase or connection-specific
                                    field, TE other than "trailers", a
                                    missing pseudo-header, a Content-Length
                                    that differs from the DATA received
    ERROR conn N: WHY               the h2 library gave up on the connection
Requests are the lines that start with two numbers.

Endpoints (path, query allowed; every normal response carries x-origin-name,
x-conn-id and x-stream-id):
    /echo...            200, JSON: method, path, authority, scheme, headers
                        (every field as received, pseudo-headers too, as
                        [name, value]), body_length, body_sha256, trailers,
                        violations, conn, stream; content-length set
    /size?n=N[&nolen=1] N bytes of origin.py's /bytes pattern (so
                        "origin.py --emit-bytes N" prints the same bytes);
                        content-length unless nolen=1
    /slow?ms=N          answers after N ms (and after the request body):
                        "slow ms=N conn C stream S body LEN sha256 HEX"
    /hang               never answers
    /goaway?last=K[&code=C][&linger=MS][&every=1]
                        sends GOAWAY(last_stream_id K, code C default 0) on
                        its connection, then answers the streams <= K and
                        never those above (nor new ones); the connection is
                        closed LINGER ms (default 500; -1 never) after the
                        last stream <= K was answered.  Only the first
                        /goaway of the server process acts (so a retried one
                        is answered 200 "goaway already sent") unless every=1.
    /refuse[?n=N]       RST_STREAM REFUSED_STREAM; with n, only the first N
                        attempts of that exact path+query are refused, later
                        ones answered 200 (with the body's length and sha256)
    /bad/upper          a response field with an uppercase name
    /bad/pseudo[?kind=missing|unknown|after|dup]
                        no :status (default), an unknown pseudo-header
                        (:foo), :status after a regular field, two :status
    /bad/conn[?name=X&value=Y]
                        a connection-specific field (default connection:
                        keep-alive; e.g. transfer-encoding, keep-alive,
                        upgrade, proxy-connection)
    /bad/length[?short=1]
                        content-length 10 with 20 bytes of DATA (short: 5)
    /bad/status[?code=S]  :status S (default "2000")
    /bad/value          a field value carrying CR LF ("a\\r\\nx-injected: 1")
    /interim[?n=K]      K (default 1) 103 Early Hints, then 200
    /trailers[?n=N]     200, N (default 100) pattern bytes, then the trailer
                        x-checksum: sha256 of the body
    /noping             200; from now on PINGs on this connection go unanswered
    /status?code=N      that status, a short body
    /stats              JSON: connections (accepted so far), served_connections
                        (those that carried a request other than /stats), open,
                        max_streams_seen (most concurrent streams on one
                        connection), streams (total), goaways, refused,
                        resets_received, pings, violations;
                        ?reset=1 zeroes the counters first
    anything else       200 "h2 origin NAME: METHOD PATH conn C stream S"
"""

import argparse
import asyncio
import hashlib
import json
import os
import re
import signal
import ssl
import struct
import sys
import urllib.parse

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import h2.settings
    import h2.stream
except ImportError as _e:
    sys.stderr.write(
        "h2_origin.py: cannot import the h2 module (%s) with %s.\n"
        "  Install Debian's python3-h2 (apt-get install python3-h2) and run "
        "this script with /usr/bin/python3\n  (a pyenv or venv python3 on "
        "PATH usually lacks h2).\n" % (_e, sys.executable))
    sys.exit(2)

# h2 checks a request's content-length against its DATA even with
# validation off, and makes a mismatch a connection error: this server
# checks it itself and reports it (VIOLATION), so the other streams live on.
h2.stream.H2Stream._initialize_content_length = lambda self, headers: None
h2.stream.H2Stream._track_content_length = \
    lambda self, length, end_stream: None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from origin import BLOCK, parse_listen, write_ready  # noqa: E402

REFUSED_STREAM = 0x7
CONNECTION_SPECIFIC = {b"connection", b"keep-alive", b"proxy-connection",
                       b"transfer-encoding", b"upgrade"}
REQUEST_PSEUDO = {b":method", b":scheme", b":authority", b":path",
                  b":protocol"}
FIELD_NAME_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")


def pattern(off, n):
    """n bytes of the endless BLOCK pattern starting at offset off."""
    out = []
    while n > 0:
        o = off % len(BLOCK)
        k = min(n, len(BLOCK) - o)
        out.append(BLOCK[o:o + k])
        off += k
        n -= k
    return b"".join(out)


def pattern_sha256(n):
    h = hashlib.sha256()
    off = 0
    while off < n:
        k = min(n - off, 1 << 20)
        h.update(pattern(off, k))
        off += k
    return h.hexdigest()


class Body:
    """A response body sent as flow control allows: bytes or the pattern."""

    def __init__(self, data=None, n=None):
        self.data = data
        self.off = 0
        self.total = len(data) if data is not None else n

    @property
    def remaining(self):
        return self.total - self.off

    def take(self, k):
        k = min(k, self.remaining)
        if self.data is not None:
            piece = self.data[self.off:self.off + k]
        else:
            piece = pattern(self.off, k)
        self.off += k
        return piece


class Stats:
    def __init__(self):
        self.reset()
        self.open = 0

    def reset(self):
        self.connections = 0
        self.served = set()
        self.max_streams_seen = 0
        self.streams = 0
        self.goaways = 0
        self.refused = 0
        self.resets_received = 0
        self.pings = 0
        self.violations = 0

    def snapshot(self):
        return {"connections": self.connections,
                "served_connections": len(self.served),
                "open": self.open,
                "max_streams_seen": self.max_streams_seen,
                "streams": self.streams,
                "goaways": self.goaways,
                "refused": self.refused,
                "resets_received": self.resets_received,
                "pings": self.pings,
                "violations": self.violations}


class Server:
    def __init__(self, args):
        self.args = args
        self.name = args.name
        self.stats = Stats()
        self.refusals = {}          # path+query -> times refused
        self.goaway_done = False
        self.next_conn = 0
        self.logf = open(args.log, "a", buffering=1) if args.log else None
        self.protos = set()

    def log(self, line):
        if self.logf:
            self.logf.write(line + "\n")
            self.logf.flush()
        if not self.args.quiet:
            sys.stderr.write("h2 origin %s: %s\n" % (self.name, line))
            sys.stderr.flush()


class Conn(h2.connection.H2Connection):
    """H2Connection that can leave PINGs unanswered (/noping)."""

    noping = False

    def _receive_ping_frame(self, frame):
        frames, events = super()._receive_ping_frame(frame)
        if self.noping:
            frames = [f for f in frames if "ACK" not in f.flags]
        return frames, events


class Stream:
    def __init__(self, sid, headers):
        self.sid = sid
        self.headers = headers
        fields = {}
        for k, v in headers:
            if k.startswith(b":"):
                fields.setdefault(k, v)
        self.method = fields.get(b":method", b"").decode("latin-1")
        self.path = fields.get(b":path", b"").decode("latin-1")
        self.authority = fields.get(b":authority", b"").decode("latin-1")
        self.scheme = fields.get(b":scheme", b"").decode("latin-1")
        url = urllib.parse.urlsplit(self.path)
        self.url_path = url.path
        self.query = dict(urllib.parse.parse_qsl(url.query))
        self.cl = None
        for k, v in headers:
            if k == b"content-length":
                self.cl = v
        self.sha = hashlib.sha256()
        self.body_len = 0
        self.trailers = []
        self.ended = False          # request END_STREAM received
        self.timer_done = True
        self.timer = None
        self.ignored = False        # above a GOAWAY: never answered
        self.hang = False
        self.responded = False      # response headers queued
        self.out = None             # Body still to send
        self.out_trailers = None
        self.closed = False
        self.violations = []


class Proto(asyncio.Protocol):
    def __init__(self, server):
        self.srv = server
        self.streams = {}
        self.paused = False
        self.transport = None
        self.goaway_last = None
        self.linger = 500
        self.close_handle = None
        self.max_open = 0
        self.dead = False

    # ---- connection ----------------------------------------------------------

    def connection_made(self, transport):
        srv = self.srv
        srv.next_conn += 1
        self.cid = srv.next_conn
        srv.stats.connections += 1
        srv.stats.open += 1
        srv.protos.add(self)
        self.transport = transport
        sslobj = transport.get_extra_info("ssl_object")
        if sslobj is not None:
            alpn = sslobj.selected_alpn_protocol()
            if alpn != "h2":
                srv.log("ERROR conn %d: TLS client did not select ALPN h2 "
                        "(got %r): closed" % (self.cid, alpn))
                transport.close()
                self.dead = True
                return
        cfg = h2.config.H2Configuration(
            client_side=False, header_encoding=None,
            validate_inbound_headers=False, normalize_inbound_headers=False,
            validate_outbound_headers=False, normalize_outbound_headers=False)
        self.conn = Conn(config=cfg)
        init = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS:
                srv.args.max_concurrent_streams}
        if srv.args.initial_window is not None:
            init[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = \
                srv.args.initial_window
        self.conn.local_settings = h2.settings.Settings(
            client=False, initial_values=init)
        self.conn.initiate_connection()
        # The limit is advertised, but enforced here rather than by h2 (which
        # would end the whole connection): a stream beyond it is answered
        # RST_STREAM REFUSED_STREAM, and is a violation once the peer has
        # acknowledged our SETTINGS.
        init[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = 2**31 - 1
        self.conn.local_settings = h2.settings.Settings(
            client=False, initial_values=init)
        self.settings_acked = False
        self.flush()

    def connection_lost(self, exc):
        srv = self.srv
        srv.stats.open -= 1
        srv.protos.discard(self)
        self.dead = True
        srv.log("CLOSED conn %d" % self.cid)
        for st in list(self.streams.values()):
            self.close_stream(st)
        if self.close_handle:
            self.close_handle.cancel()

    def pause_writing(self):
        self.paused = True

    def resume_writing(self):
        self.paused = False
        self.pump_all()
        self.flush()

    def flush(self):
        if self.dead and self.transport.is_closing():
            return
        data = self.conn.data_to_send()
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def write_raw(self, frame_bytes):
        """Writes frames h2 did not make, after what h2 has queued."""
        self.flush()
        if not self.transport.is_closing():
            self.transport.write(frame_bytes)

    def data_received(self, data):
        if self.dead:
            return
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self.srv.log("ERROR conn %d: %s: %s" % (
                self.cid, type(e).__name__, e))
            self.flush()
            self.transport.close()
            self.dead = True
            return
        for ev in events:
            self.event(ev)
        self.flush()

    def event(self, ev):
        E = h2.events
        if isinstance(ev, E.RequestReceived):
            self.request(ev.stream_id, ev.headers, ev.stream_ended)
        elif isinstance(ev, E.DataReceived):
            if ev.flow_controlled_length:
                self.conn.acknowledge_received_data(
                    ev.flow_controlled_length, ev.stream_id)
            st = self.streams.get(ev.stream_id)
            if st:
                st.sha.update(ev.data)
                st.body_len += len(ev.data)
        elif isinstance(ev, E.TrailersReceived):
            st = self.streams.get(ev.stream_id)
            if st:
                st.trailers = ev.headers
                self.check_fields(st, ev.headers, trailers=True)
        elif isinstance(ev, E.StreamEnded):
            st = self.streams.get(ev.stream_id)
            if st:
                self.request_ended(st)
        elif isinstance(ev, E.StreamReset):
            self.srv.stats.resets_received += 1
            if ev.remote_reset:
                self.srv.log("RST stream %d code %d conn %d" % (
                    ev.stream_id, int(ev.error_code), self.cid))
            st = self.streams.get(ev.stream_id)
            if st:
                self.close_stream(st)
        elif isinstance(ev, E.WindowUpdated):
            if ev.stream_id == 0:
                self.pump_all()
            else:
                st = self.streams.get(ev.stream_id)
                if st:
                    self.pump(st)
        elif isinstance(ev, E.SettingsAcknowledged):
            self.settings_acked = True
        elif isinstance(ev, E.RemoteSettingsChanged):
            self.pump_all()
        elif isinstance(ev, E.PingReceived):
            self.srv.stats.pings += 1
            self.srv.log("PING conn %d %s" % (
                self.cid, "ignored" if self.conn.noping else "acked"))
        elif isinstance(ev, E.ConnectionTerminated):
            self.srv.log("PEER-GOAWAY conn %d code %d last %s" % (
                self.cid, int(ev.error_code), ev.last_stream_id))
            self.flush()
            self.transport.close()
            self.dead = True

    # ---- streams -------------------------------------------------------------

    def violation(self, st, why):
        st.violations.append(why)
        self.srv.stats.violations += 1
        self.srv.log("VIOLATION conn %d stream %d: %s" % (
            self.cid, st.sid, why))

    def check_fields(self, st, fields, trailers=False):
        """RFC 9113 8.2 and 8.3 checks of a request's field section."""
        seen_regular = False
        pseudo = {}
        for k, v in fields:
            ks = k.decode("latin-1")
            if k.startswith(b":"):
                if trailers:
                    self.violation(st, "pseudo-header %s in trailers" % ks)
                if seen_regular:
                    self.violation(st, "pseudo-header %s after a regular "
                                   "field" % ks)
                if k not in REQUEST_PSEUDO:
                    self.violation(st, "unknown pseudo-header %s" % ks)
                if k in pseudo:
                    self.violation(st, "repeated pseudo-header %s" % ks)
                pseudo[k] = v
                continue
            seen_regular = True
            if k.lower() != k:
                self.violation(st, "uppercase field name %r" % ks)
            elif not FIELD_NAME_RE.fullmatch(k):
                self.violation(st, "invalid field name %r" % ks)
            if k.lower() in CONNECTION_SPECIFIC:
                self.violation(st, "connection-specific field %s: %s" % (
                    ks, v.decode("latin-1")))
            if k.lower() == b"te" and v.strip().lower() != b"trailers":
                self.violation(st, "te: %s (only \"trailers\" allowed)" %
                               v.decode("latin-1"))
            if re.search(rb"[\r\n\x00]", v) or v != v.strip(b" \t"):
                self.violation(st, "bad value for %s: %r" % (ks, v))
        if trailers:
            return
        for need in (b":method", b":scheme", b":path"):
            if pseudo.get(need) in (None, b""):
                self.violation(st, "missing or empty %s" %
                               need.decode())
        host = [v for k, v in fields if k == b"host"]
        if host and b":authority" in pseudo and \
                host[0] != pseudo[b":authority"]:
            self.violation(st, "host %r differs from :authority %r" % (
                host[0].decode("latin-1"),
                pseudo[b":authority"].decode("latin-1")))
        if b":authority" not in pseudo and not host:
            self.violation(st, "neither :authority nor host")

    def request(self, sid, headers, ended):
        srv = self.srv
        st = Stream(sid, headers)
        limit = srv.args.max_concurrent_streams
        if len(self.streams) >= limit:
            srv.log("%d %d %s %s" % (self.cid, sid, st.method, st.path))
            if self.settings_acked:
                self.violation(st, "stream beyond SETTINGS_MAX_CONCURRENT_"
                               "STREAMS %d" % limit)
            srv.stats.refused += 1
            srv.log("REFUSE stream %d conn %d: %d streams open" % (
                sid, self.cid, len(self.streams)))
            self.conn.reset_stream(sid, REFUSED_STREAM)
            return
        self.streams[sid] = st
        srv.stats.streams += 1
        self.max_open = max(self.max_open, len(self.streams))
        srv.stats.max_streams_seen = max(srv.stats.max_streams_seen,
                                         self.max_open)
        if st.url_path != "/stats":
            srv.stats.served.add(self.cid)
        srv.log("%d %d %s %s" % (self.cid, sid, st.method, st.path))
        self.check_fields(st, headers)
        if self.goaway_last is not None and sid > self.goaway_last:
            # Not a violation by itself: the peer may have sent it before
            # our GOAWAY reached it.
            self.ignore(st)
            if ended:
                st.ended = True
            return
        p, q = st.url_path, st.query
        if p == "/goaway":
            if not srv.goaway_done or q.get("every") == "1":
                srv.goaway_done = True
                self.send_goaway(int(q.get("last", "0")),
                                 int(q.get("code", "0")),
                                 int(q.get("linger", "500")))
        elif p == "/refuse":
            n = int(q["n"]) if "n" in q else None
            done = srv.refusals.get(st.path, 0)
            if n is None or done < n:
                srv.refusals[st.path] = done + 1
                srv.stats.refused += 1
                srv.log("REFUSE stream %d conn %d" % (sid, self.cid))
                self.conn.reset_stream(sid, REFUSED_STREAM)
                self.close_stream(st)
                return
        elif p == "/hang":
            st.hang = True
        elif p == "/slow":
            st.timer_done = False
            ms = int(q.get("ms", "1000"))
            st.timer = asyncio.get_running_loop().call_later(
                ms / 1000.0, self.timer_fired, st)
        elif p == "/noping":
            self.conn.noping = True
        if ended:
            self.request_ended(st)

    def timer_fired(self, st):
        st.timer_done = True
        st.timer = None
        self.maybe_respond(st)
        self.flush()

    def request_ended(self, st):
        st.ended = True
        if st.cl is not None:
            if not re.fullmatch(rb"[0-9]+", st.cl) or \
                    int(st.cl) != st.body_len:
                self.violation(st, "content-length %s but %d bytes of DATA" %
                               (st.cl.decode("latin-1"), st.body_len))
        self.maybe_respond(st)

    def ignore(self, st):
        if st.ignored:
            return
        st.ignored = True
        if st.timer:
            st.timer.cancel()
            st.timer = None
        self.srv.log("IGNORE stream %d conn %d above %d" % (
            st.sid, self.cid, self.goaway_last))

    def close_stream(self, st):
        if st.closed:
            return
        st.closed = True
        if st.timer:
            st.timer.cancel()
            st.timer = None
        self.streams.pop(st.sid, None)
        self.maybe_close_after_goaway()

    def send_goaway(self, last, code, linger):
        self.goaway_last = last
        self.linger = linger
        self.srv.stats.goaways += 1
        payload = struct.pack(">II", last & 0x7FFFFFFF, code) + b"h2_origin"
        self.write_raw(struct.pack(">I", len(payload))[1:] +
                       struct.pack(">BBI", 0x7, 0, 0) + payload)
        self.srv.log("GOAWAY conn %d last %d code %d" % (
            self.cid, last, code))
        for st in list(self.streams.values()):
            if st.sid > last:
                self.ignore(st)
        self.maybe_close_after_goaway()

    def maybe_close_after_goaway(self):
        if self.goaway_last is None or self.linger < 0 or self.close_handle \
                or self.dead:
            return
        if any(not s.ignored for s in self.streams.values()):
            return
        self.close_handle = asyncio.get_running_loop().call_later(
            self.linger / 1000.0, self.close_now)

    def close_now(self):
        if not self.dead:
            self.srv.log("CLOSE conn %d after GOAWAY" % self.cid)
            self.flush()
            self.transport.close()
            self.dead = True

    # ---- responses -----------------------------------------------------------

    def base_headers(self, st, status, ctype="text/plain", length=None):
        h = [(b":status", str(status).encode()),
             (b"content-type", ctype.encode()),
             (b"x-origin-name", self.srv.name.encode()),
             (b"x-conn-id", str(self.cid).encode()),
             (b"x-stream-id", str(st.sid).encode())]
        if length is not None:
            h.append((b"content-length", str(length).encode()))
        return h

    def respond(self, st, status, body, ctype="text/plain", length=True,
                extra=(), trailers=None):
        if isinstance(body, str):
            body = body.encode()
        b = body if isinstance(body, Body) else Body(data=body)
        h = self.base_headers(st, status, ctype,
                              b.total if length else None) + list(extra)
        st.responded = True
        if st.method == "HEAD":
            b = Body(data=b"")
        end = b.total == 0 and trailers is None
        self.conn.send_headers(st.sid, h, end_stream=end)
        if end:
            self.close_stream(st)
            return
        st.out = b
        st.out_trailers = trailers
        self.pump(st)

    def pump(self, st):
        if st.closed or st.out is None or self.paused or self.dead:
            return
        c = self.conn
        try:
            while st.out.remaining > 0:
                w = min(c.local_flow_control_window(st.sid),
                        c.max_outbound_frame_size, st.out.remaining)
                if w <= 0:
                    return
                last = w == st.out.remaining and st.out_trailers is None
                c.send_data(st.sid, st.out.take(w), end_stream=last)
                if last:
                    break
            else:
                if st.out_trailers is not None:
                    c.send_headers(st.sid, st.out_trailers, end_stream=True)
                else:
                    c.end_stream(st.sid)
        except h2.exceptions.StreamClosedError:
            pass
        st.out = None
        self.close_stream(st)

    def pump_all(self):
        for st in list(self.streams.values()):
            if st.out is not None:
                self.pump(st)

    def maybe_respond(self, st):
        if st.closed or st.responded or st.ignored or st.hang or \
                not st.ended or not st.timer_done or self.dead:
            return
        if self.goaway_last is not None and st.sid > self.goaway_last:
            self.ignore(st)
            return
        try:
            self.answer(st)
        except ValueError as e:
            if not st.responded:
                self.respond(st, 400, "bad parameter: %s\n" % e)
        self.maybe_close_after_goaway()

    def answer(self, st):
        p, q, srv = st.url_path, st.query, self.srv
        if p.startswith("/echo"):
            doc = {"method": st.method, "path": st.path,
                   "authority": st.authority, "scheme": st.scheme,
                   "headers": [[k.decode("latin-1"), v.decode("latin-1")]
                               for k, v in st.headers],
                   "body_length": st.body_len,
                   "body_sha256": st.sha.hexdigest(),
                   "trailers": [[k.decode("latin-1"), v.decode("latin-1")]
                                for k, v in st.trailers],
                   "violations": st.violations,
                   "conn": self.cid, "stream": st.sid}
            # One key a line (headers on one line: easy to grep).
            self.respond(st, 200, "{\n%s\n}\n" % ",\n".join(
                " %s: %s" % (json.dumps(k), json.dumps(v))
                for k, v in doc.items()), "application/json")
        elif p == "/size":
            n = int(q.get("n", "0"))
            if n < 0:
                raise ValueError("n < 0")
            self.respond(st, 200, Body(n=n), "application/octet-stream",
                         length=q.get("nolen") != "1")
        elif p == "/slow":
            self.respond(st, 200, "slow ms=%s conn %d stream %d body %d "
                         "sha256 %s\n" % (q.get("ms", "1000"), self.cid,
                                          st.sid, st.body_len,
                                          st.sha.hexdigest()))
        elif p == "/goaway":
            if self.goaway_last is not None:
                self.respond(st, 200, "goaway last=%d sent on conn %d\n" %
                             (self.goaway_last, self.cid))
            else:
                self.respond(st, 200, "goaway already sent; conn %d "
                             "stream %d\n" % (self.cid, st.sid))
        elif p == "/refuse":
            self.respond(st, 200, "accepted after %d refusals; conn %d "
                         "stream %d body %d sha256 %s\n" % (
                             srv.refusals.get(st.path, 0), self.cid, st.sid,
                             st.body_len, st.sha.hexdigest()))
        elif p == "/noping":
            self.respond(st, 200, "pings ignored on conn %d\n" % self.cid)
        elif p == "/stats":
            if q.get("reset") == "1":
                srv.stats.reset()
                for pr in srv.protos:
                    pr.max_open = len(pr.streams)
            self.respond(st, 200, json.dumps(srv.stats.snapshot()) + "\n",
                         "application/json")
        elif p == "/status":
            code = int(q.get("code", "200"))
            if not 200 <= code <= 599:
                raise ValueError("code must be 200..599")
            self.respond(st, code, "status %d\n" % code)
        elif p == "/interim":
            for _ in range(int(q.get("n", "1"))):
                self.conn.send_headers(st.sid, [
                    (b":status", b"103"),
                    (b"link", b"</style.css>; rel=preload; as=style")])
            self.respond(st, 200, "final response after 103\n")
        elif p == "/trailers":
            n = int(q.get("n", "100"))
            self.respond(st, 200, Body(n=n), "application/octet-stream",
                         length=q.get("nolen") != "1",
                         extra=[(b"trailer", b"x-checksum")],
                         trailers=[(b"x-checksum",
                                    pattern_sha256(n).encode())])
        elif p.startswith("/bad/"):
            self.bad(st, p[5:], q)
        else:
            self.respond(st, 200, "h2 origin %s: %s %s conn %d stream %d\n" %
                         (srv.name, st.method, st.path, self.cid, st.sid))

    def bad(self, st, kind, q):
        """Malformed responses.  The h2 library is configured not to validate
        nor normalize outbound fields, so what is asked is what goes on the
        wire (tests check that with a raw frame reader)."""
        body = b"malformed response: %s\n" % kind.encode()
        ok = (b":status", b"200")
        tail = [(b"content-type", b"text/plain"),
                (b"x-conn-id", str(self.cid).encode()),
                (b"x-stream-id", str(st.sid).encode())]
        clen = (b"content-length", str(len(body)).encode())
        if kind == "upper":
            h = [ok, (b"X-Upper-Name", b"bad")] + tail + [clen]
        elif kind == "pseudo":
            k = q.get("kind", "missing")
            if k == "missing":
                h = tail + [clen]
            elif k == "unknown":
                h = [ok, (b":foo", b"bar")] + tail + [clen]
            elif k == "after":
                h = tail + [ok, clen]
            elif k == "dup":
                h = [ok, (b":status", b"204")] + tail + [clen]
            else:
                raise ValueError("kind: missing|unknown|after|dup")
        elif kind == "conn":
            name = q.get("name", "connection").encode()
            value = q.get("value", "keep-alive").encode()
            h = [ok, (name, value)] + tail + [clen]
        elif kind == "length":
            n = 5 if q.get("short") == "1" else 20
            body = (b"0123456789" * 2)[:n]
            h = [ok] + tail + [(b"content-length", b"10")]
        elif kind == "status":
            h = [(b":status", q.get("code", "2000").encode())] + tail + [clen]
        elif kind == "value":
            h = [ok, (b"x-split", b"a\r\nx-injected: 1")] + tail + [clen]
        else:
            raise ValueError("unknown /bad/ kind")
        st.responded = True
        self.conn.send_headers(st.sid, h)
        st.out = Body(data=body)
        self.pump(st)


async def serve(args):
    srv = Server(args)
    loop = asyncio.get_running_loop()
    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        ctx.set_alpn_protocols(["h2"])
    host, port, family = args.listen
    server = await loop.create_server(lambda: Proto(srv), host, port,
                                      family=family, ssl=ctx, backlog=1024,
                                      reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    if args.log:
        open(args.log, "a").close()
    if args.ready_file:
        write_ready(args.ready_file, bound)
    if not args.quiet:
        sys.stderr.write("h2 origin %s: listening on %s port %d (%s)\n" % (
            args.name, host, bound, "TLS, ALPN h2" if ctx else "h2c"))
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    await stop
    server.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", type=parse_listen, default="127.0.0.1:0",
                    help="HOST:PORT or [V6]:PORT; port 0 picks a free one")
    ap.add_argument("--name", default="h2origin")
    ap.add_argument("--ready-file", help="gets the bound port once listening")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"),
                    help="TLS with ALPN h2 only (default: h2c prior knowledge)")
    ap.add_argument("--log", help="appends request and event lines")
    ap.add_argument("--max-concurrent-streams", type=int, default=100,
                    help="SETTINGS_MAX_CONCURRENT_STREAMS (default 100)")
    ap.add_argument("--initial-window", type=int, default=None,
                    help="SETTINGS_INITIAL_WINDOW_SIZE (default 65535)")
    ap.add_argument("--quiet", action="store_true",
                    help="no event lines on stderr")
    args = ap.parse_args()
    if isinstance(args.listen, str):
        args.listen = parse_listen(args.listen)
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
