#!/usr/bin/env python3
"""ppclient.py: one connection as a balancer makes it: from --src, a PROXY
protocol header (v1, v2, v2 LOCAL, or raw bytes), then TLS (or plain HTTP
with --plain) and one GET, as the client the header names.

  ppclient.py PORT --src 127.0.0.5 --header v2 --client 192.0.2.7:5555
      [--crc | --bad-crc] [--tlvs] [--pad N] [--split N] [--pause-ms MS]
      [--stop-after N] [--hold SECONDS] [--host H] [--path P]
      [--cafile CA] [--plain] [--timeout S]

Prints one line: "STATUS <code>" followed by the response body, or
"CLOSED <when>" when the proxy closed the connection (when: header, tls,
request), or "TIMEOUT".  --stop-after N sends only the first N bytes of
the header and then waits for the proxy to close.  --hold keeps the
connection open after the TLS handshake (printing "READY") for that long
before sending the request.
"""
import argparse
import ipaddress
import socket
import ssl
import struct
import sys
import time

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def tlv(t, v):
    return bytes([t]) + struct.pack(">H", len(v)) + v


def header(a, dst):
    if a.header == "none":
        return b""
    if a.header.startswith("raw:"):
        return bytes.fromhex(a.header[4:])
    host, port = a.client.rsplit(":", 1)
    host = host.strip("[]")
    ip = ipaddress.ip_address(host)
    dhost, dport = dst
    if a.header == "v1":
        fam = "TCP4" if ip.version == 4 else "TCP6"
        if ip.version == 6 and ":" not in dhost:
            dhost = "::ffff:" + dhost
        return ("PROXY %s %s %s %s %d\r\n" % (fam, ip, dhost, port, dport)).encode()
    if a.header == "v1unknown":
        return b"PROXY UNKNOWN\r\n"
    local = a.header == "v2local"
    if ip.version == 4:
        fam = 0x11
        body = ip.packed + ipaddress.ip_address(dhost).packed + struct.pack(">HH", int(port), dport)
    else:
        fam = 0x21
        d = ipaddress.ip_address(dhost)
        if d.version == 4:
            d = ipaddress.ip_address("::ffff:" + dhost)
        body = ip.packed + d.packed + struct.pack(">HH", int(port), dport)
    if local:
        fam, body = 0x00, b""
    if a.tlvs:
        body += tlv(0x01, b"http/1.1") + tlv(0x02, a.host.encode()) + tlv(0x05, b"lb-req-42")
        body += tlv(0x20, bytes([0x01, 0, 0, 0, 0]) + tlv(0x21, b"TLSv1.3"))
    if a.pad:
        body += tlv(0x04, b"\0" * a.pad)
    if a.crc or a.bad_crc:
        body += tlv(0x03, b"\0\0\0\0")
    h = SIG + bytes([0x20 if local else 0x21, fam]) + struct.pack(">H", len(body)) + body
    if a.crc or a.bad_crc:
        c = crc32c(h)
        if a.bad_crc:
            c ^= 1
        h = h[:-4] + struct.pack(">I", c)
    return h


def closed(s):
    """True when the peer closed (FIN or reset) within the socket timeout."""
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("--addr", default="127.0.0.1")
    p.add_argument("--src", default="127.0.0.1")
    p.add_argument("--header", default="v2")
    p.add_argument("--client", default="192.0.2.7:5555")
    p.add_argument("--crc", action="store_true")
    p.add_argument("--bad-crc", action="store_true")
    p.add_argument("--tlvs", action="store_true")
    p.add_argument("--pad", type=int, default=0, help="a NOOP TLV of N bytes")
    p.add_argument("--split", type=int, default=0)
    p.add_argument("--pause-ms", type=int, default=50)
    p.add_argument("--stop-after", type=int, default=-1)
    p.add_argument("--hold", type=float, default=0)
    p.add_argument("--host", default="gms.mcx.own.example")
    p.add_argument("--path", default="/headers")
    p.add_argument("--cafile")
    p.add_argument("--plain", action="store_true")
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--keepalive", action="store_true",
                   help="no Connection: close; print the head as 'H: ' lines")
    a = p.parse_args()

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((a.src, 0))
    s.settimeout(a.timeout)
    s.connect((a.addr, a.port))
    h = header(a, (a.addr, a.port))
    if a.stop_after >= 0:
        s.sendall(h[:a.stop_after])
        t0 = time.monotonic()
        print("CLOSED header after %.1fs" % (time.monotonic() - t0) if closed(s) else "TIMEOUT")
        return
    try:
        if a.split > 0:
            for i in range(0, len(h), a.split):
                s.sendall(h[i:i + a.split])
                time.sleep(a.pause_ms / 1000)
        else:
            s.sendall(h)
    except (ConnectionResetError, BrokenPipeError):
        print("CLOSED header")
        return
    conn = s
    if not a.plain:
        ctx = ssl.create_default_context(cafile=a.cafile)
        try:
            conn = ctx.wrap_socket(s, server_hostname=a.host)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError) as e:
            print("CLOSED tls (%s)" % e.__class__.__name__)
            return
    if a.hold > 0:
        print("READY", flush=True)
        time.sleep(a.hold)
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (
        a.path, a.host, "" if a.keepalive else "Connection: close\r\n")).encode()
    data = b""
    try:
        conn.sendall(req)
        while True:
            b = conn.recv(65536)
            if not b:
                break
            data += b
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        pass
    except socket.timeout:
        print("TIMEOUT")
        return
    if not data:
        print("CLOSED request")
        return
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n")[0].split(b" ")[1].decode()
    sys.stdout.write("STATUS %s\n" % status)
    if a.keepalive:
        for line in head.split(b"\r\n")[1:]:
            sys.stdout.write("H: %s\n" % line.decode(errors="replace"))
    sys.stdout.write(body.decode(errors="replace"))


if __name__ == "__main__":
    main()
