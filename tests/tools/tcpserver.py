"""tcpserver: the accept loop shared by the raw test upstreams (faulty.py,
recorder.py): bind, write the bound port to a ready file (atomically, so a
test never reads half of it), then one thread per connection."""

import os
import socket
import threading


def serve_forever(listen, ready_file, handler, *args):
    """Calls handler(sock, *args) in a new thread for each connection."""
    host, _, port = listen.rpartition(":")
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(128)
    with open(ready_file + ".tmp", "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(ready_file + ".tmp", ready_file)
    while True:
        s, _ = ls.accept()
        threading.Thread(target=handler, args=(s,) + args, daemon=True).start()
