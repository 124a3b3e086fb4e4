#!/usr/bin/env python3
# tls_origin.py NAME CERT KEY CLIENT_CA|- READY-FILE LOG: origin.py's
# server and handlers behind TLS.
import os, ssl, sys, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import origin

name, cert, key, client_ca, ready, log = sys.argv[1:7]
srv = origin.Server(("127.0.0.1", 0), origin.Handler)
srv.name = name
srv.quiet = False
srv.log_requests = log
srv.log_lock = threading.Lock()
srv.idle_timeout = None
srv.stats = origin.Stats()
open(log, "a").close()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if client_ca != "-":
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(client_ca)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
origin.write_ready(ready, srv.server_address[1])
sys.stderr.write("tls origin %s: listening on port %d\n" %
                 (name, srv.server_address[1]))
srv.serve_forever(poll_interval=0.5)
