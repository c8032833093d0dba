"""Prometheus metrics (``AUTH_METRICS``, the ``[metrics]`` extra).

The counters follow the signals (logins, sessions ended) and the guard
(every guarded request's result, the session cache's hits); the session
cache's lag is a gauge, the login's time a histogram. They live in
``AuthService.metrics_registry`` (prometheus_client's global ``REGISTRY`` by
default), once per registry however many apps share it. Under a server of
several processes (gunicorn) set ``PROMETHEUS_MULTIPROC_DIR``:
prometheus_client then keeps each process's values in files of that folder,
and ``exposition()`` sums them.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from typing import Any, Callable, Optional, TypeVar

from flask import Response

from . import signals
from .state import State, current_app_state

#: The results of ``auth_logins_total`` beside the reasons of ``login_failed``.
LOGIN_OK = "ok"
LOGIN_MFA_REQUIRED = "mfa_required"
GUARD_OK = "ok"
#: ``auth_login_seconds``: bcrypt at cost 12 takes ~0.25 s.
LOGIN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise RuntimeError(
            "AUTH_METRICS needs prometheus_client: pip install 'flask-auth-service-mongo[metrics]'"
        ) from None
    return prometheus_client


class AuthMetrics:
    """The metrics of one registry."""

    def __init__(self, registry: Any):
        prometheus = _prometheus()
        self.registry = registry
        self.logins = prometheus.Counter(
            "auth_logins",
            "Logins by result: ok, bad_credentials, locked_out, mfa_required",
            ["result"],
            registry=registry,
        )
        self.sessions_ended = prometheus.Counter(
            "auth_sessions_ended",
            "Sessions ended, by reason (logout, and those of sessions_ended)",
            ["reason"],
            registry=registry,
        )
        self.guarded_requests = prometheus.Counter(
            "auth_guarded_requests",
            "Guarded requests by result: ok, or the refusal's code",
            ["result"],
            registry=registry,
        )
        self.cache_hits = prometheus.Counter(
            "auth_session_cache_hits",
            "Session checks answered by the session cache (no database read)",
            registry=registry,
        )
        self.cache_lag_seconds = prometheus.Gauge(
            "auth_session_cache_lag_seconds",
            "How old the session cache's last proof of being current is (+Inf: none; the cache is then bypassed)",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.login_seconds = prometheus.Histogram(
            "auth_login_seconds",
            "Time of a login answer (password check included)",
            buckets=LOGIN_BUCKETS,
            registry=registry,
        )

    def cache_hit(self) -> None:
        self.cache_hits.inc()

    def cache_lag(self, seconds: float) -> None:
        self.cache_lag_seconds.set(seconds)


_by_registry: dict[int, AuthMetrics] = {}
_lock = threading.Lock()
#: Whether an app of this process turned the metrics on (else nothing looks).
_enabled = False


def for_registry(registry: Optional[Any]) -> AuthMetrics:
    """The metrics of ``registry`` (None: prometheus_client's global one),
    registered there on first use."""
    global _enabled
    registry = registry if registry is not None else _prometheus().REGISTRY
    _enabled = True
    with _lock:
        metrics = _by_registry.get(id(registry))
        if metrics is None or metrics.registry is not registry:
            metrics = _by_registry[id(registry)] = AuthMetrics(registry)
        return metrics


def current() -> Optional[AuthMetrics]:
    """The metrics of the current app, None when it has none (or there is no app)."""
    if not _enabled:
        return None
    state = current_app_state()
    return state.metrics if state is not None else None


def count_login(result: str) -> None:
    metrics = current()
    if metrics is not None:
        metrics.logins.labels(result).inc()


def count_guarded(result: str, state: State) -> None:
    """A request through ``auth.required`` of the app of ``state``: ``ok`` or the refusal's code."""
    if state.metrics is not None:
        state.metrics.guarded_requests.labels(result).inc()


def count_ended(reason: str, sessions: int = 1) -> None:
    metrics = current()
    if metrics is not None and sessions:
        metrics.sessions_ended.labels(reason).inc(sessions)


def connect() -> None:
    """Count the logins and the sessions ended from the signals (once a process)."""
    signals.user_logged_in.connect(_logged_in)
    signals.login_failed.connect(_login_failed)
    signals.user_logged_out.connect(_logged_out)
    signals.sessions_ended.connect(_sessions_ended)


def _logged_in(sender: Any, **_: Any) -> None:
    count_login(LOGIN_OK)


def _login_failed(sender: Any, reason: str = "", **_: Any) -> None:
    count_login(reason)


def _logged_out(sender: Any, **_: Any) -> None:
    count_ended("logout")


def _sessions_ended(sender: Any, session_ids: Any = (), reason: str = "", **_: Any) -> None:
    count_ended(reason, len(session_ids))


View = TypeVar("View", bound=Callable[..., Any])


def timed_login(view: View) -> View:
    """``view`` (a login helper) timed into ``auth_login_seconds``."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        metrics = current()
        if metrics is None:
            return view(*args, **kwargs)
        started = time.perf_counter()
        try:
            return view(*args, **kwargs)
        finally:
            metrics.login_seconds.observe(time.perf_counter() - started)

    return wrapper  # type: ignore[return-value]  # same signature


def exposition() -> Response:
    """The current app's metrics in Prometheus' text format, for a view of
    the app's (``app.add_url_rule("/metrics", view_func=metrics.exposition)``);
    with ``PROMETHEUS_MULTIPROC_DIR``, those of every process."""
    prometheus = _prometheus()
    state = current_app_state()
    if state is None or state.metrics is None:
        raise RuntimeError("AUTH_METRICS is off for this app")
    mirror = state.store.local_mirror()
    if mirror is not None:
        state.metrics.cache_lag(mirror.lag_seconds())
    registry = state.metrics.registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = prometheus.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(prometheus.generate_latest(registry), mimetype=CONTENT_TYPE)
