"""A wire-protocol proxy that answers the session check's repeated read
from memory, for the benchmark's "fast server" rows: a stand-in for a
``mongod`` that answers in a fraction of a millisecond, which SecantusDB (a
server written in Python, on the same CPUs) does not.

    python benchmarks/replay_proxy.py UPSTREAM_PORT

It prints the port it listens on, then passes every message through to
``127.0.0.1:UPSTREAM_PORT`` except the strict session check's ``aggregate``
(``store._read_live``: a ``$match`` on the session's ``_id`` and user):
the first of each pipeline goes to the server, and its reply is sent again,
byte for byte but for the header, to every later one. It is not a database:
what it replays is the session as it was at the first read, so the app it
serves must write no last use meanwhile (a long
``AUTH_LAST_USED_INTERVAL_SECONDS``). Each line on its standard input is
answered with the number of commands it has received, its clients'
monitoring (``hello``) aside: the app it serves needs no command listener
of its own to be counted.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading
from typing import Optional

import bson

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from wire_proxy import CHECKSUM_PRESENT, HEADER, OP_MSG, msg_body, read_message, with_ignored_errors  # noqa: E402

#: The commands of a client's monitoring, not of the app.
MONITORING = {"hello", "isMaster", "ismaster"}


def replay_key(body: Optional[dict]) -> Optional[bytes]:
    """What identifies a session check's read (its database and pipeline), else None."""
    if body is None or body.get("aggregate") != "session":
        return None
    pipeline = body.get("pipeline") or [{}]
    if set(pipeline[0].get("$match", {})) != {"_id", "user"}:
        return None
    return bson.encode({"db": body.get("$db"), "pipeline": pipeline})


class ReplayProxy:
    """Replies by replay key, shared by every connection."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.replies: dict[bytes, bytes] = {}  # replay key -> the reply after its header
        self.commands = 0  # received, but for MONITORING
        self.counting = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]

    def serve(self) -> None:
        while True:
            client, _ = self.listener.accept()
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending: dict[int, bytes] = {}  # request id -> replay key, of the reads sent upstream
            lock = threading.Lock()  # both directions write to the client
            threading.Thread(target=self.requests, args=(client, upstream, pending, lock), daemon=True).start()
            threading.Thread(target=self.answers, args=(upstream, client, pending, lock), daemon=True).start()

    def requests(self, client: socket.socket, upstream: socket.socket, pending: dict, lock: threading.Lock) -> None:
        while (message := read_message(client)) is not None:
            body = msg_body(message)
            if body is not None and next(iter(body), None) not in MONITORING:
                with self.counting:
                    self.commands += 1
            key = replay_key(body)
            reply = self.replies.get(key) if key is not None else None
            request_id = HEADER.unpack(message[:16])[1]
            try:
                if reply is not None:
                    with lock:
                        client.sendall(HEADER.pack(16 + len(reply), 0, request_id, OP_MSG) + reply)
                    continue
                if key is not None:
                    pending[request_id] = key
                upstream.sendall(message)
            except OSError:
                break
        close(client, upstream)

    def answers(self, upstream: socket.socket, client: socket.socket, pending: dict, lock: threading.Lock) -> None:
        while (message := read_message(upstream)) is not None:
            key = pending.pop(HEADER.unpack(message[:16])[2], None)
            if key is not None and not struct.unpack("<I", message[16:20])[0] & CHECKSUM_PRESENT:
                self.replies[key] = message[16:]
            try:
                with lock:
                    client.sendall(message)
            except OSError:
                break
        close(client, upstream)

    def report(self) -> None:
        """Answer each line of standard input with the commands received so far."""
        for _ in sys.stdin:
            print(self.commands, flush=True)


def close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with_ignored_errors(lambda sock=sock: sock.shutdown(socket.SHUT_RDWR))


if __name__ == "__main__":
    proxy = ReplayProxy(int(sys.argv[1]))
    print(proxy.port, flush=True)
    threading.Thread(target=proxy.report, daemon=True).start()
    proxy.serve()
