"""What an anonymous GraphQL query costs, before and after the bound.

    python benchmarks/graphql_cost.py [--repeat N]

One run, side by side, on mongomock through Flask's test client: the
710-field ``{ me { id id ... } }`` of issue 14 (2.1 KB, no token) and the
997 spreads of undefined fragments of issue 32 (``{ ...aa ...ab ... }``,
5.9 KB, no token) against ``{ __typename }`` and a 150-field version under
the bound. "through the endpoint" is what a request costs now (the 710-field
and the 997-spread ones answer 400 ``query_too_complex``); "validated without
the bound" is what parsing and validating that document costs, which is what
the endpoint spent on it before the bound; "parse only" is the floor. Times
are medians in milliseconds.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from importlib import metadata
from itertools import product
from pathlib import Path
from string import ascii_letters
from typing import Callable

from graphql import parse, validate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.app import create_app  # noqa: E402
from flask_auth_service_mongo import schema  # noqa: E402
from flask_auth_service_mongo.graphql_view import MAX_TOKENS  # noqa: E402

#: Two-letter fragment names ("on" would start an inline fragment).
SPREAD_NAMES = [name for name in map("".join, product(ascii_letters, repeat=2)) if name != "on"][:997]
QUERIES = [
    ("{ __typename }", "{ __typename }"),
    ("150 fields of me", "{ me { " + "id " * 150 + "} }"),
    ("710 fields of me (issue 14)", "{ me { " + "id " * 710 + "} }"),
    ("997 unknown spreads (issue 32)", "{ " + " ".join(f"...{name}" for name in SPREAD_NAMES) + " }"),
]


def medians_ms(actions: list[Callable[[], object]], repeat: int) -> list[float]:
    """The median time of each action, run in turns so that a busy machine hits them all alike."""
    times: list[list[float]] = [[] for _ in actions]
    for action in actions:
        action()  # warm up
    for _ in range(repeat):
        for action, spent in zip(actions, times):
            start = time.perf_counter()
            action()
            spent.append((time.perf_counter() - start) * 1000)
    return [statistics.median(spent) for spent in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    app = create_app({"MONGODB_URI": "mongomock://localhost/graphql_cost", "SECRET_KEY": "k" * 48, "TESTING": True})
    client = app.test_client()
    graphql_schema = schema.schema.graphql_schema
    actions, statuses = [], []
    for _, query in QUERIES:
        statuses.append(client.post("/admin/graphql", json={"query": query}).status_code)
        actions += [
            lambda q=query: client.post("/admin/graphql", json={"query": q}),
            lambda q=query: validate(graphql_schema, parse(q, max_tokens=MAX_TOKENS)),
            lambda q=query: parse(q, max_tokens=MAX_TOKENS),
        ]
    results = medians_ms(actions, args.repeat)
    print(
        f"graphql-core {metadata.version('graphql-core')}, Python {platform.python_version()},"
        f" median of {args.repeat} runs, ms"
    )
    header = f"{'query':30} {'bytes':>6} {'status':>6} {'through the endpoint':>21} {'validated w/o bound':>20}"
    print(header + f" {'parse only':>11}")
    for row, ((label, query), status) in enumerate(zip(QUERIES, statuses)):
        endpoint, unbounded, parsed = results[3 * row : 3 * row + 3]
        print(f"{label:30} {len(query):>6} {status:>6} {endpoint:>21.2f} {unbounded:>20.2f} {parsed:>11.2f}")


if __name__ == "__main__":
    main()
