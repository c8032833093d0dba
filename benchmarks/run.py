"""What a guarded request costs, side by side with flask-jwt-extended.

    python benchmarks/run.py [--quick] [--mongodb-uri URI | --secantus PATH]

Always: Flask's test client on mongomock. With a wire server (``--mongodb-uri``
or ``BENCH_MONGODB_URI``, or ``--secantus`` to start a SecantusDB server on a
free loopback port): the test client on that server with the database
commands per request counted by pymongo's command monitoring, HTTP against
waitress on loopback with concurrent clients, and the guarded cost with 1k,
10k and 100k stored sessions, what the session cache's proof costs a
process (its watermark writes and getMores a second, on an idle and on a
busy server, with the cached rows' commands per request), the
revocation lag between two app processes with and without
``AUTH_SESSION_CACHE``, the CPU time of a bare request after its thread
waited, strict mode's CPU with its session read answered from memory by
``replay_proxy.py`` (a server that answers at once; in a process with no
command listener, the proxy counting the commands), and (with valgrind) the
instructions per request under callgrind.
Times are medians and 99th percentiles; the bare rows get the guarded
rows' Authorization header.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import functools
import gc
import http.client
import json
import logging
import os
import platform
import pstats
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import timedelta
from importlib import metadata
from typing import Callable, Iterator, Optional
from urllib.parse import urlsplit, urlunsplit

import apps
from bson import DBRef, ObjectId
from pymongo import MongoClient, monitoring

from flask_auth_service_mongo.clock import utcnow
from flask_auth_service_mongo.mirror import IDLE_SECONDS
from flask_auth_service_mongo.passwords import check_password, hash_password

BARE = "bare Flask view"
CACHED_BARE = "ours cached: bare view of the same app"
VIEWS = [  # row, path, token
    # The bare views get the request the guarded ones get, Authorization header included.
    (BARE, "/bare", "ours"),
    ("bare flask-restx resource", "/restx/bare", "ours"),
    ("ours: guarded plain view", "/guarded", "ours"),
    ("ours: guarded flask-restx resource", "/restx/guarded", "ours"),
    ("ours: guarded + current_user()", "/guarded-user", "ours"),
    (CACHED_BARE, "/cached/bare", "cached"),
    ("ours cached: guarded plain view", "/cached/guarded", "cached"),
    ("ours cached: guarded + current_user()", "/cached/guarded-user", "cached"),
    ("ours + metrics: guarded plain view", "/metered/guarded", "ours"),
    ("ours, no audit trail: guarded plain view", "/lean/guarded", "ours"),
    ("ours: scoped view, session", "/scoped", "ours"),
    ("ours: scoped view, personal access token", "/scoped", "pat"),
    ("ours cached: scoped view, personal access token", "/cached/scoped", "cached_pat"),
    ("flask-jwt-extended stateless", "/jwt/guarded", "jwt"),
    ("flask-jwt-extended blocklist + user loader", "/jwtdb/guarded", "jwt"),
    ("flask-jwt-extended + Redis blocklist", "/jwtredis/guarded", "jwt_redis"),
]
GUARDED = "ours: guarded plain view"
#: Without change streams (mongomock) the cached app reads like the strict one.
WIRE_ONLY_KINDS = {"cached", "cached_pat"}
#: The commands of the session cache's change stream (sent by its own thread).
STREAM_COMMANDS = {"getMore", "killCursors"}
CREDENTIALS = {"username": apps.USERNAME, "password": apps.PASSWORD}

Client = Callable[..., tuple]
Timed = Callable[[str, Callable[[], tuple]], tuple]


#: The session cache's watermarks: its proof that its stream is current.
WATERMARKS = "auth_mirror_watermark"


class CommandCounter(monitoring.CommandListener):
    """Counts the commands every client sends while ``row`` is set, but for
    the session cache's own (its stream and its watermark writes), which
    ``proof`` counts at all times."""

    def __init__(self) -> None:
        self.row: Optional[str] = None
        self.counts: collections.Counter = collections.Counter()
        self.proof: collections.Counter = collections.Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command.get(event.command_name) == WATERMARKS:
            self.proof["watermark " + event.command_name] += 1
        elif is_stream_command(event):
            self.proof[event.command_name] += 1
        elif self.row is not None:
            self.counts[self.row] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def is_stream_command(event: monitoring.CommandStartedEvent) -> bool:
    """A change stream's command: its opening aggregate, its getMore and killCursors."""
    if event.command_name in STREAM_COMMANDS:
        return True
    pipeline = event.command.get("pipeline") if event.command_name == "aggregate" else None
    return bool(pipeline) and "$changeStream" in pipeline[0]


COUNTER = CommandCounter()  # registered by main, and under callgrind by count_instructions


# -- clients -----------------------------------------------------------------


def test_clients(mounted: dict) -> Client:
    """A request through Flask's test client, routed by prefix like the server."""
    clients = {prefix: app.test_client() for prefix, app in mounted.items()}

    def request(method: str, path: str, token: Optional[str] = None, body: Optional[dict] = None) -> tuple:
        prefix = "/" + path.split("/")[1]
        if prefix not in clients:
            prefix = ""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = clients[prefix].open(path[len(prefix) :], method=method, headers=headers, json=body)
        return response.status_code, response.get_json(silent=True)

    return request


def http_client(port: int) -> Client:
    """A request over one keep-alive HTTP connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(method: str, path: str, token: Optional[str] = None, body: Optional[dict] = None) -> tuple:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        return response.status, json.loads(payload) if payload else None

    return request


# -- scenarios: one step makes one or two timed requests ----------------------


def expect(row: str, answer: tuple) -> dict:
    if answer[0] != 200:
        raise RuntimeError(f"{row}: expected 200, got {answer[0]} {answer[1]}")
    return answer[1]


def view_step(client: Client, row: str, path: str, token: Optional[str]) -> Callable[[Timed], None]:
    def step(timed: Timed) -> None:
        expect(row, timed(row, lambda: client("GET", path, token)))

    return step


#: The apps whose login and logout are timed: (URL prefix, what the rows add).
LOGINS = [("", ""), ("/metered", " + metrics"), ("/lean", ", no audit trail")]


def login_logout_step(client: Client, prefix: str = "", suffix: str = "") -> Callable[[Timed], None]:
    login, logout = "login" + suffix, "logout" + suffix

    def step(timed: Timed) -> None:
        body = expect(login, timed(login, lambda: client("POST", prefix + "/restx/login", body=CREDENTIALS)))
        expect(logout, timed(logout, lambda: client("POST", prefix + "/restx/logout", body["data"]["token"])))

    return step


def refresh_step(client: Client) -> Callable[[Timed], None]:
    """Refreshes one session over and over, each time with the newest token."""
    state: dict[str, str] = {}

    def step(timed: Timed) -> None:
        if "refresh" not in state:
            pair = expect("login", client("POST", "/restx/login", body=CREDENTIALS))["data"]
            state["refresh"] = pair["refresh_token"]
        answer = timed("refresh", lambda: client("POST", "/restx/refresh", body={"refresh_token": state["refresh"]}))
        state["refresh"] = expect("refresh", answer)["data"]["refresh_token"]

    return step


def views_for(tokens: dict) -> list:
    """The rows of VIEWS whose token exists (no cached rows on mongomock)."""
    return [(row, path, kind) for row, path, kind in VIEWS if kind is None or kind in tokens]


def steps_for(client: Client, tokens: dict, views: int, sessions: int) -> list:
    """(repetitions a round, step) for every row."""
    steps = [(views, view_step(client, row, path, tokens.get(kind))) for row, path, kind in views_for(tokens)]
    steps += [(sessions, login_logout_step(client, prefix, suffix)) for prefix, suffix in LOGINS]
    return steps + [(sessions, refresh_step(client))]


# -- measuring -----------------------------------------------------------------


#: CPU time of this process (every thread: the session cache's too) by row.
CPU: dict[str, list[int]] = collections.defaultdict(list)


def recorder(samples: dict, count_commands: bool) -> Timed:
    def timed(row: str, request: Callable[[], tuple]) -> tuple:
        if count_commands:
            COUNTER.row = row
        start, cpu = time.perf_counter_ns(), time.process_time_ns()
        try:
            return request()
        finally:
            samples[row].append(time.perf_counter_ns() - start)
            CPU[row].append(time.process_time_ns() - cpu)
            COUNTER.row = None

    return timed


def interleaved(steps: list, rounds: int, count_commands: bool = False) -> dict:
    """Run every step round-robin (a drift of the machine hits all rows alike),
    after one warm-up round and a full collection (one made due by what ran
    before would land in one row's CPU); the samples (ns) by row."""
    samples: dict[str, list[int]] = collections.defaultdict(list)
    for count, step in steps:
        for _ in range(count):
            step(recorder(collections.defaultdict(list), False))
    gc.collect()
    COUNTER.counts.clear()
    CPU.clear()
    timed = recorder(samples, count_commands)
    for _ in range(rounds):
        for count, step in steps:
            for _ in range(count):
                step(timed)
    return samples


def concurrent(make_step: Callable[[Client], Callable], port: int, clients: int, seconds: float, limit: int):
    """``clients`` threads, each on its own connection, until ``seconds`` or
    ``limit`` requests each; the samples by row and the requests per second."""
    samples: dict[str, list[int]] = collections.defaultdict(list)
    errors: list[BaseException] = []
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1, timeout=60)

    def worker() -> None:
        mine: dict[str, list[int]] = collections.defaultdict(list)
        try:
            step = make_step(http_client(port))
            step(recorder(collections.defaultdict(list), False))  # connect, warm up
            ready.wait()
            deadline = time.monotonic() + seconds
            timed = recorder(mine, False)
            for _ in range(limit):
                if time.monotonic() > deadline:
                    break
                step(timed)
        except (OSError, ValueError, RuntimeError, http.client.HTTPException, threading.BrokenBarrierError) as error:
            errors.append(error)
            ready.abort()
        with lock:
            for row, values in mine.items():
                samples[row].extend(values)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait()
        start = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    elapsed = time.perf_counter() - start
    return samples, {row: len(values) / elapsed for row, values in samples.items()}


def us(ns: float) -> str:
    return f"{ns / 1000:,.0f}"


def quantile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


STARTED = float(os.environ.get("BENCH_STARTED") or time.monotonic())  # a child process prints its parent's


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """Print a reStructuredText simple table (pasted as is into README.rst)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    rule = "  ".join("=" * width for width in widths)

    def line(cells: list) -> str:
        first, *rest = (str(cell) for cell in cells)
        return "  ".join([first.ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(rest, widths[1:]))])

    print(f"\n{title}\n")
    print(rule, line(header), rule, *(line(row) for row in rows), rule, sep="\n")
    print(f"({time.monotonic() - STARTED:.0f} s since the start)", flush=True)


def timing_rows(
    samples: dict, extra: Callable[[str], list[str]] = lambda row: [], baseline: str = BARE
) -> list[list[str]]:
    bare = statistics.median(samples[baseline])
    rows = []
    for row, values in samples.items():
        median = statistics.median(values)
        rows.append([row, us(median), us(quantile(values, 0.99)), f"{median / bare:.2f}", len(values), *extra(row)])
    return rows


TIMING = ["request", "median µs", "p99 µs", "× bare", "samples"]


# -- databases -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, seconds: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args[0]} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f}s")


@contextlib.contextmanager
def started(command: list[str], port: int, **kwargs) -> Iterator[None]:
    """Run ``command`` (a server on ``port``) for the duration of the block."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    try:
        wait_for_port(port, 30, process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def secantus(executable: str) -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-secantus-") as storage:
        command = [executable, "--host", "127.0.0.1", "--port", str(port), "--storage-path", storage]
        with started(command + ["--enable-test-commands"], port):
            yield f"mongodb://127.0.0.1:{port}"


@contextlib.contextmanager
def redis_server() -> Iterator[Optional[str]]:
    """Debian's redis-server on a free loopback port (no persistence), for
    flask-jwt-extended's Redis blocklist; None when it or redis-py is missing."""
    import shutil

    executable = shutil.which("redis-server")
    try:
        import redis  # noqa: F401
    except ImportError:
        executable = None
    if executable is None:
        print("no redis-server or redis-py (apt-get install redis-server; pip install redis): no Redis row")
        yield None
        return
    port = free_port()
    command = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with started(command, port):
        yield f"redis://127.0.0.1:{port}/0"


def with_database(uri: str, name: str) -> str:
    return urlunsplit(urlsplit(uri)._replace(path="/" + name))


@contextlib.contextmanager
def own_database(uri: str) -> Iterator[str]:
    """``uri`` naming a database of this run's own, dropped afterwards."""
    name = "flask_auth_bench_" + secrets.token_hex(4)
    try:
        yield with_database(uri, name)
    finally:
        with MongoClient(uri) as client:
            client.drop_database(name)


def child(options: list[str], uri: str, secret: str, args: argparse.Namespace, redis_url: Optional[str]) -> tuple:
    """The command and environment that run this script again for one
    section (``options``) against the server of ``uri``."""
    command = [sys.executable, __file__, *options, "--mongodb-uri", uri, "--bcrypt-rounds", str(args.bcrypt_rounds)]
    env = {**os.environ, "BENCH_SECRET": secret, "BENCH_REDIS_URL": redis_url or "", "BENCH_STARTED": str(STARTED)}
    return command, env


def fill_sessions(uri: str, total: int) -> None:
    """Bulk-insert session documents of other users up to ``total`` (on a
    client of its own: the app's short socket timeout is for requests)."""
    now = utcnow()
    with MongoClient(uri) as client:
        collection = client.get_default_database().get_collection("session")
        have = collection.estimated_document_count()
        while have < total:
            batch = min(2000, total - have)
            document = {
                "role": apps.ROLE,
                "change_password": False,
                "created_at": now,
                "last_used_at": now,
                "expires_at": now + timedelta(days=7),
                "ip": "127.0.0.1",
                "user_agent": "benchmark",
            }
            collection.insert_many(
                [
                    {
                        "_id": secrets.token_urlsafe(18),
                        "user": ObjectId(),
                        "refresh_jti": secrets.token_hex(16),
                        **document,
                    }
                    for _ in range(batch)
                ],
                ordered=False,
            )
            have += batch


# -- sections ------------------------------------------------------------------


def prepare(
    uri: str, secret: str, rounds: int, wire: bool, redis_url: Optional[str] = None, cache_lag_ms: int = 500
) -> tuple[dict, dict]:
    """Build the apps on ``uri``, seed the user; the apps and the tokens."""
    mounted = apps.mounted(uri, secret, rounds, redis_url, cache_lag_ms)
    user_id = apps.seed(rounds)
    client = test_clients(mounted)
    tokens = {"jwt": apps.jwt_token(mounted["/jwt"], user_id)}
    if redis_url:
        tokens["jwt_redis"] = tokens["jwt"]
    for kind, prefix in (("ours", ""), ("cached", "/cached")):
        if wire or kind not in WIRE_ONLY_KINDS:
            tokens[kind] = expect("login", client("POST", prefix + "/restx/login", body=CREDENTIALS))["data"]["token"]
    tokens["pat"] = apps.personal_token(mounted[""], user_id)
    if wire:
        tokens["cached_pat"] = apps.personal_token(mounted["/cached"], user_id)
    return mounted, tokens


def counted(samples: dict) -> dict:
    """The commands per request ``COUNTER`` saw in each row of ``samples``."""
    return {row: COUNTER.counts[row] / len(values) for row, values in samples.items()}


def test_client_section(title: str, mounted: dict, tokens: dict, size: dict, wire: bool) -> None:
    client = test_clients(mounted)
    steps = steps_for(client, tokens, size["views"], size["sessions"])
    samples = interleaved(steps, size["rounds"], count_commands=wire)
    measured_table(title, samples, counted(samples) if wire else None)


def measured_table(title: str, samples: dict, commands: Optional[dict], baseline: str = BARE) -> None:
    """The timing rows of ``samples`` (ratios to ``baseline``), with each
    row's CPU and, on a wire server, its database commands per request."""
    header = TIMING + ["CPU µs (this process)"] + (["db commands / request"] if commands is not None else [])

    def extra(row: str) -> list[str]:
        cells = [us(sum(CPU[row]) / len(CPU[row]))]
        if commands is not None:
            cells.append(f"{commands[row]:.2f}")
        return cells

    table(title, header, timing_rows(samples, extra, baseline))


#: The goal's rows: the cached guard, with and without ``current_user()``, and the same app's bare view.
SAME_APP = [view for view in VIEWS if view[1] in {"/cached/bare", "/cached/guarded", "/cached/guarded-user"}]


def same_app_section(mounted: dict, tokens: dict, size: dict) -> None:
    """The cached guard against the unguarded view of its own app: one
    request of each row in turn, nothing else in between (in the big table a
    row follows others that keep the server, on the same CPUs, busy)."""
    client = test_clients(mounted)
    steps = [(1, view_step(client, row, path, tokens[kind])) for row, path, kind in SAME_APP]
    samples = interleaved(steps, size["same_app_rounds"], count_commands=True)
    title = "The cached guard and the bare view of the same app, one request of each in turn, test client"
    measured_table(title, samples, counted(samples), baseline=CACHED_BARE)


def server_command(
    port: int, uri: str, secret: str, args: argparse.Namespace, redis_url: Optional[str] = None
) -> tuple[list[str], dict]:
    """The command and environment of a benchmark HTTP server on ``port``."""
    command = [sys.executable, __file__, "--serve", str(port), "--mongodb-uri", uri]
    command += ["--bcrypt-rounds", str(args.bcrypt_rounds), "--clients", str(args.clients)]
    return command, {**os.environ, "BENCH_SECRET": secret, "BENCH_REDIS_URL": redis_url or ""}


def http_section(
    uri: str, secret: str, tokens: dict, args: argparse.Namespace, size: dict, redis_url: Optional[str]
) -> None:
    port = free_port()
    command, env = server_command(port, uri, secret, args, redis_url)
    samples: dict[str, list[int]] = {}
    rates: dict[str, float] = {}
    makers = [
        functools.partial(view_step, row=row, path=path, token=tokens.get(kind))
        for row, path, kind in views_for(tokens)
    ]
    with started(command, port, env=env):
        for make in makers + [login_logout_step, refresh_step]:
            found, rate = concurrent(make, port, args.clients, size["seconds"], size["http_limit"])
            samples.update(found)
            rates.update(rate)
    title = f"HTTP on loopback: waitress ({args.clients} threads), {args.clients} keep-alive clients, wire server"
    table(title, TIMING + ["requests / s"], timing_rows(samples, lambda row: [f"{rates[row]:,.0f}"]))


def sessions_section(uri: str, mounted: dict, tokens: dict, size: dict) -> None:
    client = test_clients(mounted)
    steps = [(size["views"], view_step(client, row, path, tokens.get(kind))) for row, path, kind in VIEWS[:3]]
    rows = []
    for total in (1_000, 10_000, 100_000):
        fill_sessions(uri, total)
        samples = interleaved(steps, max(1, size["rounds"] // 2), count_commands=True)
        guarded, bare = statistics.median(samples[GUARDED]), statistics.median(samples[BARE])
        commands = COUNTER.counts[GUARDED] / len(samples[GUARDED])
        p99 = quantile(samples[GUARDED], 0.99)
        rows.append([f"{total:,}", us(guarded), us(p99), us(bare), f"{guarded / bare:.2f}", f"{commands:.2f}"])
    header = ["stored sessions", "guarded median µs", "guarded p99 µs", "bare median µs", "× bare"]
    header.append("db commands / request")
    table("Guarded plain view with many stored sessions, test client, wire server", header, rows)


def revocation_lag(one: Client, other: Client, prefix: str) -> float:
    """Log in on ``one``, use the token on ``other`` (so a cache holds it),
    log out on ``one``: the seconds from the logout's answer until ``other``
    refuses the token."""
    token = expect("login", one("POST", prefix + "/restx/login", body=CREDENTIALS))["data"]["token"]
    for _ in range(3):
        expect("warm-up", other("GET", prefix + "/guarded", token))
    expect("logout", one("POST", prefix + "/restx/logout", token))
    ended = time.perf_counter()
    deadline = ended + 30
    while other("GET", prefix + "/guarded", token)[0] == 200:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{prefix or 'strict'}: the token is still accepted 30 s after its logout")
    return time.perf_counter() - ended


def revocation_section(uri: str, secret: str, args: argparse.Namespace, size: dict) -> None:
    """Two app processes: logout in one, until the other refuses the token."""
    ports = free_port(), free_port()
    rows = []
    with contextlib.ExitStack() as stack:
        for port in ports:
            command, env = server_command(port, uri, secret, args)
            stack.enter_context(started(command, port, env=env))
        one, other = http_client(ports[0]), http_client(ports[1])
        for mode, prefix in (("strict (cache off)", ""), ("AUTH_SESSION_CACHE, 500 ms bound", "/cached")):
            lags = [revocation_lag(one, other, prefix) * 1e9 for _ in range(size["trials"])]
            ms = [f"{quantile(lags, q) / 1e6:.1f}" for q in (0.5, 0.99)] + [f"{max(lags) / 1e6:.1f}"]
            rows.append([mode, *ms, len(lags)])
    header = ["mode", "median ms", "p99 ms", "max ms", "trials"]
    table("Revocation lag: logout in one process, until the other refuses the token (HTTP, wire server)", header, rows)


@contextlib.contextmanager
def busy_server(uri: str) -> Iterator[dict]:
    """Another client churning other users' sessions (an insert and a delete
    at a time, each delete a change the mirror's stream delivers); its
    operations per second in the yielded dict once the block ends."""
    done = threading.Event()
    done_count = {"operations": 0}

    def churn() -> None:
        with MongoClient(uri) as client:
            sessions = client.get_default_database().get_collection("session")
            while not done.is_set():
                key = secrets.token_urlsafe(18)
                sessions.insert_one({"_id": key, "user": ObjectId(), "expires_at": utcnow() + timedelta(days=1)})
                sessions.delete_one({"_id": key})
                done_count["operations"] += 2

    thread = threading.Thread(target=churn, daemon=True)
    start = time.perf_counter()
    thread.start()
    stats: dict = {}
    try:
        yield stats
    finally:
        done.set()
        thread.join()
        stats["rate"] = done_count["operations"] / (time.perf_counter() - start)


def proof_section(uri: str, mounted: dict, tokens: dict, size: dict) -> None:
    """What the session cache's proof costs one process, and that the cached
    rows stay at no command per request on an idle and on a busy server."""
    client = test_clients(mounted)
    cached = [(row, path, kind) for row, path, kind in VIEWS if kind == "cached"]
    steps = [(size["views"], view_step(client, row, path, tokens[kind])) for row, path, kind in cached]
    rows = []

    def measure(what: str, work: Callable[[], Optional[dict]]) -> None:
        COUNTER.proof.clear()
        start = time.perf_counter()
        samples = work()
        elapsed = time.perf_counter() - start
        commands = [f"{COUNTER.counts[row] / len(samples[row]):.2f}" if samples else "-" for row, _, _ in cached]
        writes = COUNTER.proof["watermark update"] / elapsed
        rows.append([what, *commands, f"{writes:.1f}", f"{COUNTER.proof['getMore'] / elapsed:.1f}"])

    measure("idle server, requests served", lambda: interleaved(steps, size["rounds"], count_commands=True))
    with busy_server(uri) as busy:
        measure("busy server, requests served", lambda: interleaved(steps, size["rounds"], count_commands=True))
    measure("no request, 2 s after the last", lambda: time.sleep(2.0))
    time.sleep(IDLE_SECONDS)
    measure(f"no request for over {IDLE_SECONDS:.0f} s", lambda: time.sleep(2.0))
    header = ["server, process", *(f"commands / request: {row[len('ours cached: ') :]}" for row, _, _ in cached)]
    header += ["watermark writes / s", "getMore / s"]
    title = f"The session cache's proof, per process (test client, wire server; busy: {busy['rate']:,.0f} writes/s)"
    table(title, header, rows)


def wakeup_section(mounted: dict, tokens: dict, size: dict) -> None:
    """CPU time of one and the same bare request after the thread slept as
    long as a database answer takes: what the CPU column charges a row for
    waiting (cold caches, a core that slowed down), not for its work."""
    client = test_clients(mounted)
    rows = []
    for wait_ms in (0, 0.05, 0.5, 1, 4):
        cpu = []
        for _ in range(size["views"] * size["rounds"] // 2):
            if wait_ms:
                time.sleep(wait_ms / 1000)
            start = time.thread_time_ns()
            expect(BARE, client("GET", "/bare", tokens["ours"]))
            cpu.append(time.thread_time_ns() - start)
        rows.append([f"{wait_ms} ms", us(statistics.median(cpu))])
    table("CPU time of the bare request after the thread waited (no database)", ["wait before", "CPU µs"], rows)


@contextlib.contextmanager
def replay_proxy(uri: str) -> Iterator[tuple[str, Callable[[], int]]]:
    """``uri`` through ``replay_proxy.py`` (the session check's repeated read
    answered from memory), in a process of its own: its CPU is not ours.
    With it, a function that asks the proxy how many commands it has received."""
    upstream = urlsplit(uri)
    command = [sys.executable, os.path.join(os.path.dirname(__file__), "replay_proxy.py"), str(upstream.port)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None and process.stdout is not None
    answers, questions = process.stdout, process.stdin

    def commands() -> int:
        questions.write("\n")
        questions.flush()
        return int(answers.readline())

    try:
        port = int(answers.readline())
        query = "heartbeatFrequencyMS=500&directConnection=true"
        yield urlunsplit(upstream._replace(netloc=f"127.0.0.1:{port}", query=query)), commands
    finally:
        process.kill()
        process.wait()


#: The rows of the fast-server table: ours on the app behind the proxy, flask-jwt-extended's as they are.
FAST_ROWS = [
    (row, path, "fast" if kind == "ours" else kind)
    for row, path, kind in VIEWS
    if path in {"/bare", "/guarded", "/guarded-user", "/jwt/guarded", "/jwtredis/guarded"}
]
FAST_TITLE = "Strict mode, the session read answered from memory (replay proxy), test client"


def fast_server_section(uri: str, secret: str, args: argparse.Namespace, redis_url: Optional[str]) -> None:
    """Strict mode's CPU when the server answers at once, against
    flask-jwt-extended's rows, measured by ``fast_server`` in a process of
    its own: one with no command listener (pymongo's events cost each
    command a few percent of a strict request) and no session cache thread."""
    command, env = child(["--fast-server"] + (["--quick"] if args.quick else []), uri, secret, args, redis_url)
    print(subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout, end="")


def fast_server(args: argparse.Namespace) -> None:
    """Run by ``fast_server_section``: our strict app with its session read
    replayed by a proxy (the command is still sent, encoded and its reply
    decoded), the bare view of that app and flask-jwt-extended's apps. The
    proxy counts the commands, in a pass of each row after the timed rounds."""
    size = SIZES["quick" if args.quick else "full"]
    secret, redis_url = os.environ["BENCH_SECRET"], os.environ.get("BENCH_REDIS_URL") or None
    with own_database(args.mongodb_uri) as uri, replay_proxy(uri) as (fast_uri, commands):
        fast = apps.ours(
            fast_uri, secret, args.bcrypt_rounds, name="bench_fast", AUTH_LAST_USED_INTERVAL_SECONDS=86_400
        )
        mounted = {"": fast, "/jwt": apps.jwt_stateless(secret)}
        if redis_url:
            mounted["/jwtredis"] = apps.jwt_redis(secret, redis_url)
        user_id = apps.seed(args.bcrypt_rounds)
        client = test_clients(mounted)
        tokens = {"fast": expect("login", client("POST", "/restx/login", body=CREDENTIALS))["data"]["token"]}
        tokens["jwt"] = apps.jwt_token(mounted["/jwt"], user_id)
        if redis_url:
            tokens["jwt_redis"] = tokens["jwt"]
        rows = [(row, view_step(client, row, path, tokens[kind])) for row, path, kind in FAST_ROWS if kind in tokens]
        samples = interleaved([(size["views"], step) for _, step in rows], size["rounds"])
        sent = {row: commands_per_request(step, commands) for row, step in rows}
    measured_table(FAST_TITLE, samples, sent)


def commands_per_request(step: Callable[[Timed], None], commands: Callable[[], int], requests: int = 20) -> float:
    """The commands the proxy received per request of ``step``."""
    before = commands()
    for _ in range(requests):
        step(lambda _, request: request())
    return (commands() - before) / requests


#: The rows of VIEWS whose instructions are counted.
COUNTED = [
    view
    for view in VIEWS
    if view[1] in {"/bare", "/guarded", "/guarded-user", "/cached/bare", "/cached/guarded", "/cached/guarded-user"}
    or view[1].startswith("/jwt")
]
#: Under valgrind a request takes ~50 times as long: a bound the mirror's proof meets.
VALGRIND_CACHE_LAG_MS = 60_000


def instructions_section(uri: str, secret: str, args: argparse.Namespace, redis_url: Optional[str]) -> None:
    """Instructions the main thread executes per request (callgrind): what a
    request costs the CPU, whatever the machine; its CPU time is not that (a
    thread that waited milliseconds for the server resumes on cold caches)."""
    import shutil

    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("\nno valgrind (apt-get install valgrind): no instruction counts")
        return
    requests = 50 if args.quick else 200
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as folder:
        command, env = child(["--count-instructions", str(requests)], uri, secret, args, redis_url)
        command = [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={folder}/cg.%p",
        ] + command
        printed = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout.splitlines()
        dumped = [line for line in printed if line in {row for row, _, _ in COUNTED} | {DISCARDED}]  # in order
        counts = {}
        for dump in os.listdir(folder):
            number, _, thread = dump.rpartition(".")[2].partition("-")
            if thread == "01" and number.isdigit():  # a dump of the main thread
                with open(os.path.join(folder, dump)) as lines:
                    summary = next(line for line in lines if line.startswith("summary:"))
                counts[int(number)] = int(summary.split()[1]) / requests
    kept = [(n, row) for n, row in enumerate(dumped, 1) if row != DISCARDED]
    bare = counts[kept[0][0]]
    table_rows = [[row, f"{counts[n]:,.0f}", f"{counts[n] / bare:.2f}"] for n, row in kept]
    title = f"Instructions per request, main thread (callgrind), test client, wire server, {requests} requests a row"
    table(title, ["request", "instructions", "× bare"], table_rows)


def mirror_trusted(app) -> bool:
    """Whether ``app``'s session cache is proven current in this process."""
    from flask_auth_service_mongo.state import get_state

    mirror = get_state(app).store.local_mirror()
    return mirror is not None and mirror.trusted()


#: Printed for a dump that does not count (a cached row the session cache did not answer throughout).
DISCARDED = "discarded"


class Warned(logging.Handler):
    """Notes that the package logged a warning (the session cache's stream interrupted)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        self.seen = True


def count_instructions(args: argparse.Namespace) -> None:
    """Run under callgrind by ``instructions_section``: each row's requests
    between a zeroing and a dump of the counters. A cached row that sent
    MongoDB a command (valgrind slows the session cache's thread too: its stream may
    stall), whose mirror was interrupted meanwhile or is not proven current
    after it, is measured again (three tries). Each row starts on a collected
    heap: a full collection made due by the rows before it would land in one
    row alone (one did, 37 M instructions in 50 requests). Counting the commands
    (``COUNTER``) costs the rows that send some (the strict ones) a listener call each."""
    redis_url = os.environ.get("BENCH_REDIS_URL") or None
    monitoring.register(COUNTER)  # before the apps' clients are made
    warned = Warned()
    logging.getLogger("flask_auth_service_mongo").addHandler(warned)

    def callgrind(flag: str) -> None:
        subprocess.run(["callgrind_control", flag, str(os.getpid())], check=True, stdout=subprocess.DEVNULL)

    with own_database(args.mongodb_uri) as uri:
        secret = os.environ["BENCH_SECRET"]
        mounted, tokens = prepare(uri, secret, args.bcrypt_rounds, True, redis_url, VALGRIND_CACHE_LAG_MS)
        client = test_clients(mounted)
        for row, path, kind in COUNTED:
            if kind not in tokens:
                continue
            step = view_step(client, row, path, tokens[kind])
            for _attempt in range(3):
                for _ in range(30):
                    step(lambda _, request: request())
                warned.seen, COUNTER.row = False, row
                gc.collect()  # a full collection, due by what ran before, would land in one row only
                callgrind("--zero")
                for _ in range(args.count_instructions):
                    step(lambda _, request: request())
                callgrind("--dump")
                COUNTER.row = None
                sent = COUNTER.counts.pop(row, 0)
                no_mirror = kind != "cached" or row == CACHED_BARE  # the cached bare view reads none
                if no_mirror or (not sent and not warned.seen and mirror_trusted(mounted["/cached"])):
                    print(row, flush=True)  # the row of this dump, for instructions_section
                    break
                print(DISCARDED, flush=True)
            else:
                raise RuntimeError(f"{row}: the session cache was not proven current under valgrind")


def bcrypt_note(rounds: int) -> None:
    hashed = hash_password("benchmark password", 12)
    start = time.perf_counter()
    check_password("benchmark password", hashed, 12)
    took = (time.perf_counter() - start) * 1000
    print(f"\nLogin rows hash with bcrypt at {rounds} rounds; at 12 (the default) one check alone takes {took:.0f} ms.")


def describe(args: argparse.Namespace, uri: Optional[str]) -> None:
    names = ["flask", "flask-restx", "flask-jwt-extended", "PyJWT", "pymongo", "mongomock", "mongoengine", "waitress"]
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in names)
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; {versions}")
    if uri:
        with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            server = client.server_info().get("version", "?")
        print(f"wire server: {uri} (version {server})")
    else:
        print("no wire server (--mongodb-uri, BENCH_MONGODB_URI, --secantus or SECANTUSD): mongomock only")


def profile(mounted: dict, tokens: dict, size: dict, wire: bool) -> None:
    """Where the time of a guarded request goes: with a wire server the
    cached guard with ``current_user()`` (answered from the mirror), else
    the strict guard on mongomock; the functions of most own time."""
    row, path, kind = ("ours cached: guarded + current_user()", "/cached/guarded-user", "cached")
    if not wire:
        row, path, kind = (GUARDED, "/guarded", "ours")
    step = view_step(test_clients(mounted), row, path, tokens[kind])
    timed = recorder(collections.defaultdict(list), False)
    for _ in range(size["views"]):
        step(timed)
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [step(timed) for _ in range(size["views"] * size["rounds"])])
    print(f"\n{row}, Flask test client, {'wire server' if wire else 'mongomock'}, cProfile (own time):")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


SIZES = {
    "full": {
        "rounds": 20,
        "views": 100,
        "sessions": 10,
        "seconds": 4.0,
        "http_limit": 4000,
        "trials": 200,
        "memory": (10_000, 100_000),
        "same_app_rounds": 5000,
    },
    "quick": {
        "rounds": 5,
        "views": 60,
        "sessions": 6,
        "seconds": 1.5,
        "http_limit": 1000,
        "trials": 50,
        "memory": (10_000,),
        "same_app_rounds": 2000,
    },
}


def memory_per_session(total: int, secret: str) -> tuple[int, int]:
    """Bytes a process holds per active session (tracemalloc): the session
    cache's record (as a mirror fill makes it, with its LRU entry) and the
    verified access token's cache entry, for ``total`` distinct users."""
    from flask_auth_service_mongo.cache import GuardedLRU
    from flask_auth_service_mongo.keys import KeyRing
    from flask_auth_service_mongo.store import SharedValues
    from flask_auth_service_mongo.tokens import ACCESS, TokenCodec

    keys = KeyRing("HS256", "bench", secret, {"bench": secret})
    codec = TokenCodec(keys, 0, total + 1)
    now = utcnow()
    expires = now + timedelta(hours=1)
    role = {"_id": ObjectId(), "name": "admin", "permissions": {}}
    reads = []
    for number in range(total):
        user_id, session_id = ObjectId(), secrets.token_urlsafe(18)
        token = codec.issue(ACCESS, str(user_id), session_id, int(expires.timestamp()), int(now.timestamp())).token
        found = {"_id": session_id, "user": user_id, "expires_at": expires, "last_used_at": now}
        found["authenticated_at"], found["amr"], found["acr"] = now, ["pwd"], "aal1"
        user = {"_id": user_id, "username": f"user{number:07d}@example.com", "password": "$2b$12$" + "x" * 53}
        user.update(active=True, change_password=False, role=DBRef("role", role["_id"]))
        reads.append((token, found, user))
    shared, mirror = SharedValues(), GuardedLRU(total + 1, group=lambda record: record.user_id)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _token, found, user in reads:  # copies: what a read of MongoDB brings
        record = shared.record(
            dict(found), {**user, "username": user["username"][:9] + user["username"][9:]}, dict(role)
        )
        mirror.fill(record.session_id, mirror.begin(record.session_id), record)
    middle = tracemalloc.take_snapshot()
    for token, _, _ in reads:
        codec.decode(token[:10] + token[10:], ACCESS)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    held = lambda later, earlier: sum(s.size_diff for s in later.compare_to(earlier, "filename"))  # noqa: E731
    return held(middle, before) // total, held(after, middle) // total


def memory_section(size: dict, secret: str) -> None:
    rows = []
    for total in size["memory"]:
        mirror, token = memory_per_session(total, secret)
        rows.append([f"{total:,}", f"{mirror:,}", f"{token:,}", f"{mirror + token:,}"])
    header = ["active sessions", "session cache B", "token cache B", "total B / session"]
    table("Memory a process holds per active session (tracemalloc)", header, rows)


def benchmark(args: argparse.Namespace, uri: Optional[str]) -> None:
    with redis_server() as redis_url:
        compare(args, uri, redis_url)


def compare(args: argparse.Namespace, uri: Optional[str], redis_url: Optional[str]) -> None:
    size = SIZES["quick" if args.quick else "full"]
    secret = secrets.token_urlsafe(48)
    describe(args, uri)
    if args.profile and uri:
        with own_database(uri) as profiled:
            return profile(*prepare(profiled, secret, 4, True), size, wire=True)
    mounted, tokens = prepare("mongomock://localhost/flask_auth_bench", secret, args.bcrypt_rounds, False, redis_url)
    if args.profile:
        return profile(mounted, tokens, size, wire=False)
    test_client_section("Flask test client, mongomock", mounted, tokens, size, wire=False)
    memory_section(size, secret)
    if uri:
        with own_database(uri) as wire_uri:
            mounted, tokens = prepare(wire_uri, secret, args.bcrypt_rounds, True, redis_url)
            test_client_section("Flask test client, wire server", mounted, tokens, size, wire=True)
            same_app_section(mounted, tokens, size)
            fast_server_section(uri, secret, args, redis_url)
            wakeup_section(mounted, tokens, size)
            http_section(wire_uri, secret, tokens, args, size, redis_url)
            sessions_section(wire_uri, mounted, tokens, size)
            proof_section(wire_uri, mounted, tokens, size)
            revocation_section(wire_uri, secret, args, size)
            instructions_section(uri, secret, args, redis_url)
    bcrypt_note(args.bcrypt_rounds)


def serve(args: argparse.Namespace) -> None:
    """The HTTP server the benchmark starts in a process of its own."""
    import waitress
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    redis_url = os.environ.get("BENCH_REDIS_URL") or None
    mounted = apps.mounted(args.mongodb_uri, os.environ["BENCH_SECRET"], args.bcrypt_rounds, redis_url)
    root = mounted.pop("")
    waitress.serve(DispatcherMiddleware(root, mounted), host="127.0.0.1", port=args.serve, threads=args.clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (about a minute)")
    parser.add_argument("--mongodb-uri", default=os.environ.get("BENCH_MONGODB_URI"), help="a wire server to use")
    parser.add_argument(
        "--secantus",
        metavar="PATH",
        default=os.environ.get("SECANTUSD"),
        help="without --mongodb-uri: start this secantusd-py on a free loopback port (default: $SECANTUSD)",
    )
    parser.add_argument("--profile", action="store_true", help="only profile guarded requests (cProfile)")
    parser.add_argument("--bcrypt-rounds", type=int, default=4, help="cost of the benchmark user's hash")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients and server threads")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count-instructions", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--fast-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args)
    if args.count_instructions:
        return count_instructions(args)
    if args.fast_server:
        return fast_server(args)
    monitoring.register(COUNTER)  # this process's clients: those of the test-client rows
    if args.mongodb_uri or not args.secantus:
        benchmark(args, args.mongodb_uri)
    else:
        with secantus(args.secantus) as uri:
            benchmark(args, uri)


if __name__ == "__main__":
    main()
