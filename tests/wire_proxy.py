"""A MongoDB wire-protocol proxy for the tests that plays a ``mongos`` in
front of a quiet shard: it passes every message through, but holds the
events of change streams for ``delay`` seconds, answering the getMores
meanwhile with the events whose time has come (often none) and a
``postBatchResumeToken`` that never passes an event it holds.

Threads, one pair a connection; only OP_MSG replies to a change stream's
``aggregate`` or ``getMore`` are rewritten (parsed and encoded with bson),
everything else (the handshake's OP_QUERY included) is copied byte for byte.
"""

from __future__ import annotations

import collections
import socket
import struct
import threading
import time
from typing import Optional

import bson

OP_MSG = 2013
CHECKSUM_PRESENT = 1
HEADER = struct.Struct("<iiii")


def read_message(sock: socket.socket) -> Optional[bytes]:
    """One whole wire message, or None when the peer closed."""
    header = read_exactly(sock, 16)
    if header is None:
        return None
    length = HEADER.unpack(header)[0]
    rest = read_exactly(sock, length - 16)
    return None if rest is None else header + rest


def read_exactly(sock: socket.socket, size: int) -> Optional[bytes]:
    chunks, left = [], size
    while left:
        try:
            chunk = sock.recv(left)
        except OSError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def msg_body(message: bytes) -> Optional[dict]:
    """The body (section kind 0) of an OP_MSG, or None for another opcode."""
    if HEADER.unpack(message[:16])[3] != OP_MSG:
        return None
    position = 20
    while position < len(message):
        kind = message[position]
        size = struct.unpack("<i", message[position + 1 : position + 5])[0]
        if kind == 0:
            return bson.decode(message[position + 1 : position + 1 + size])
        position += 1 + size
    return None


def msg_with_body(message: bytes, body: dict) -> bytes:
    """``message`` (an OP_MSG reply) with ``body`` instead, without checksum."""
    _, request_id, response_to, _ = HEADER.unpack(message[:16])
    flags = struct.unpack("<I", message[16:20])[0] & ~CHECKSUM_PRESENT
    payload = struct.pack("<I", flags) + b"\x00" + bson.encode(body)
    return HEADER.pack(16 + len(payload), request_id, response_to, OP_MSG) + payload


class HeldStream:
    """The events of one change stream cursor the proxy holds back."""

    def __init__(self, safe_token: Optional[dict]):
        self.queue: collections.deque = collections.deque()  # (release time, event)
        self.safe_token = safe_token  # the last resume token passed on


class HoldingProxy:
    """A loopback proxy to ``127.0.0.1:upstream_port``; ``delay`` may change at any time."""

    def __init__(self, upstream_port: int, delay: float = 0.0):
        self.upstream_port = upstream_port
        self.delay = delay
        self.held_events = 0  # events that came while a delay was set
        self.lock = threading.Lock()
        self.streams: dict[int, HeldStream] = {}
        self.asked: dict[int, tuple] = {}  # request id -> (command, cursor id or resume token)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self.accept, daemon=True).start()

    def uri(self, database: str) -> str:
        return f"mongodb://127.0.0.1:{self.port}/{database}?heartbeatFrequencyMS=500&directConnection=true"

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        for sock in self.sockets:
            with_ignored_errors(sock.close)

    def accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.sockets += [client, upstream]
            threading.Thread(target=self.pump, args=(client, upstream, self.requested), daemon=True).start()
            threading.Thread(target=self.pump, args=(upstream, client, self.answered), daemon=True).start()

    def pump(self, source: socket.socket, target: socket.socket, look) -> None:
        while True:
            message = read_message(source)
            if message is None:
                break
            try:
                target.sendall(look(message))
            except OSError:
                break
        for sock in (source, target):
            with_ignored_errors(lambda sock=sock: sock.shutdown(socket.SHUT_RDWR))

    def requested(self, message: bytes) -> bytes:
        """Note the requests whose answers are a change stream's batches."""
        body = msg_body(message)
        if body is not None:
            request_id = HEADER.unpack(message[:16])[1]
            pipeline = body.get("pipeline") if "aggregate" in body else None
            if pipeline and "$changeStream" in pipeline[0]:
                stage = pipeline[0]["$changeStream"]
                with self.lock:
                    self.asked[request_id] = ("aggregate", stage.get("resumeAfter") or stage.get("startAfter"))
            elif "getMore" in body:
                with self.lock:
                    if body["getMore"] in self.streams:
                        self.asked[request_id] = ("getMore", body["getMore"])
        return message

    def answered(self, message: bytes) -> bytes:
        response_to = HEADER.unpack(message[:16])[2]
        with self.lock:
            asked = self.asked.pop(response_to, None)
        if asked is None:
            return message
        body = msg_body(message)
        if body is None or "cursor" not in body:
            return message
        with self.lock:
            return msg_with_body(message, self.hold(asked, body))

    def hold(self, asked: tuple, body: dict) -> dict:
        cursor = body["cursor"]
        kind, argument = asked
        if kind == "aggregate":
            stream = self.streams[cursor["id"]] = HeldStream(argument)
            batch_key = "firstBatch"
        else:
            stream = self.streams[argument]
            batch_key = "nextBatch"
        now = time.monotonic()
        for event in cursor.get(batch_key, []):
            stream.queue.append((now + self.delay, event))
            self.held_events += self.delay > 0
        released = []
        while stream.queue and (stream.queue[0][0] <= now or self.delay == 0):
            released.append(stream.queue.popleft()[1])
        if stream.queue:
            token = released[-1]["_id"] if released else stream.safe_token
        else:
            token = cursor.get("postBatchResumeToken")
        stream.safe_token = token
        cursor[batch_key] = released
        if token is None:
            cursor.pop("postBatchResumeToken", None)
        else:
            cursor["postBatchResumeToken"] = token
        return body


def with_ignored_errors(action) -> None:
    try:
        action()
    except OSError:
        pass
