"""Processes for the wire tests: a SecantusDB server of their own (a test
tool, never a dependency of the package) and app processes under waitress,
all on free loopback ports, every wait bounded.

For .ci/run: ``python tests/wire_server.py port`` prints a free port,
``python tests/wire_server.py wait URI`` waits until the server at URI
answers and prints its version.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

import pymongo
from pymongo import monitoring
from pymongo.errors import PyMongoError

from flask_auth_service_mongo import event_writer

ROOT = Path(__file__).resolve().parent.parent
#: The SecantusDB launcher the tests may start, stop and kill themselves.
SERVER_COMMAND = os.environ.get("SECANTUSD")
START_SECONDS = 30
STOP_SECONDS = 10
HTTP_TIMEOUT_SECONDS = 15
#: Run a waitress server for examples.app with the JSON config of argv[2].
APP_SCRIPT = (
    "import json, sys, waitress; from examples.app import create_app; "
    "waitress.serve(create_app(json.loads(sys.argv[2])), listen=sys.argv[1], threads=8, _quiet=True)"
)


def is_change_stream_command(event) -> bool:
    """A command of a change stream: its opening ``aggregate`` (a pipeline that
    starts with ``$changeStream``), its ``getMore`` and ``killCursors``."""
    if event.command_name in ("getMore", "killCursors"):
        return True
    pipeline = event.command.get("pipeline") if event.command_name == "aggregate" else None
    return bool(pipeline) and "$changeStream" in pipeline[0]


#: The session cache's watermarks (the proof that its stream is current).
WATERMARKS = "auth_mirror_watermark"


def is_session_cache_command(event) -> bool:
    """A command of the session cache's own thread: its change stream's, or
    its watermark write."""
    return is_change_stream_command(event) or event.command.get(event.command_name) == WATERMARKS


class CommandLog(monitoring.CommandListener):
    """The commands sent while ``recording()`` is open, as (name, collection),
    but for those of change streams and the session cache's watermarks when
    ``streams`` is false. Register it before
    the app creates its client (pymongo cannot unregister it: it stays idle
    outside ``recording()``)."""

    def __init__(self, streams: bool = True):
        self.streams = streams
        self.active = False
        self.commands: list = []

    def started(self, event):
        if threading.current_thread().name == event_writer.THREAD_NAME:
            return  # the audit trail's writes, off the request's path
        if self.active and (self.streams or not is_session_cache_command(event)):
            self.commands.append((event.command_name, event.command.get(event.command_name)))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    @contextlib.contextmanager
    def recording(self):
        self.commands = []
        self.active = True
        try:
            yield self.commands
        finally:
            self.active = False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(ready: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``ready`` every 0.1 s until it is true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {seconds} s")
        time.sleep(0.1)


def server_version(uri: str, seconds: float = START_SECONDS) -> str:
    """Wait until the server at ``uri`` answers; its version string."""
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=int(seconds * 1000)) as client:
        info = client.server_info()
    extra = f" (SecantusDB {info['secantusVersion']})" if "secantusVersion" in info else ""
    return f"MongoDB {info['version']}{extra}"


def http_call(method: str, url: str, body: Optional[dict] = None, token: Optional[str] = None):
    """``(status, JSON body or text)`` of one HTTP request; a hang fails the test."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return response.status, decode(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, decode(error.read())


def decode(body: bytes):
    """A JSON body, or the raw text of anything else (a 500 page shows up as is)."""
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


class Process:
    """A child process stopped by its PID; its output goes to ``log``."""

    def __init__(self, log: Path):
        self.log = log
        self.proc: Optional[subprocess.Popen] = None

    def spawn(self, args: list, env: Optional[dict] = None) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT, env=env
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"process exited with {self.proc.returncode}, see {self.log}")
        return True

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if not self.alive():
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_SECONDS)

    def kill(self) -> None:
        """Die at once, like a crash (SIGKILL)."""
        self.stop(signal.SIGKILL)


class WireServer(Process):
    """A SecantusDB server on a free port, restartable on the same port and storage."""

    def __init__(self, storage: Path, options: tuple = ()):
        super().__init__(storage.parent / "server.log")
        self.storage = storage
        self.options = list(options)  # more command-line options, e.g. a small oplog
        self.port = free_port()

    def uri(self, database: str = "") -> str:
        return f"mongodb://127.0.0.1:{self.port}/{database}?heartbeatFrequencyMS=500"

    def start(self) -> None:
        self.spawn(
            [
                SERVER_COMMAND,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--storage-path",
                str(self.storage),
                "--enable-test-commands",
                *self.options,
            ]
        )
        wait_for(lambda: self.check_alive() and self.answers(), START_SECONDS, "wire server")

    def client(self) -> pymongo.MongoClient:
        return pymongo.MongoClient(self.uri(), serverSelectionTimeoutMS=START_SECONDS * 1000)

    def answers(self) -> bool:
        try:
            server_version(self.uri(), seconds=0.5)
        except PyMongoError:
            return False
        return True


class AppProcess(Process):
    """examples.app under waitress on a free port, driven over HTTP."""

    def __init__(self, log: Path, config: dict):
        super().__init__(log)
        self.config = config
        self.port = free_port()

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("MONGODB_URI", None)
        self.spawn([sys.executable, "-c", APP_SCRIPT, f"127.0.0.1:{self.port}", json.dumps(self.config)], env)
        wait_for(lambda: self.check_alive() and self.listening(), START_SECONDS, "app process")

    def listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def call(self, method: str, path: str, body: Optional[dict] = None, token: Optional[str] = None):
        """``(status, JSON body)`` of one HTTP request; a hang fails the test."""
        return http_call(method, f"http://127.0.0.1:{self.port}{path}", body, token)


class AppThread:
    """A Flask app under waitress in a thread of this process, on a free
    loopback port: it shares the test's database, mongomock included."""

    def __init__(self, app):
        import waitress

        self.server = waitress.create_server(app, listen="127.0.0.1:0", threads=4)
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from waitress import wasyncore

        while not self._stop.is_set():
            wasyncore.loop(timeout=0.1, map=self.server._map, count=1)
        # Closed by the loop's own thread: asyncore is not thread-safe.
        for channel in list(self.server._map.values()):
            channel.close()
        self.server.task_dispatcher.shutdown()

    def __enter__(self) -> AppThread:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(STOP_SECONDS)


if __name__ == "__main__":
    if sys.argv[1:] == ["port"]:
        print(free_port())
    elif sys.argv[1:2] == ["wait"] and len(sys.argv) == 3:
        print(server_version(sys.argv[2]), flush=True)
    else:
        sys.exit("usage: python tests/wire_server.py port | wait URI")
