"""Serving a graphene schema: ``POST`` a JSON ``{"query", "variables", "operationName"}``.

``mount(blueprint, schema)`` adds ``<prefix>/graphql`` in one line. A request
that cannot run (a body that is not a JSON object, no query, a syntax error,
bad variables) answers 400 with a GraphQL error body, never a 500. Resolver
errors keep their own message when they are GraphQL errors or ``AuthError``;
a database failure reads ``service_unavailable`` and any other exception
``internal_error`` (logged, never shown). GraphiQL is served on ``GET`` in
debug mode only; its page loads GraphiQL and React from the unpkg.com CDN, so
the browser needs to reach it (offline the page stays blank).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Optional, Union

from flask import Blueprint, Flask, Response, current_app, request
from flask.views import View
from graphql import ExecutionResult, GraphQLError, execute, parse, validate

from .bodies import is_unicode_text, read_json_body
from .database import database_failure
from .errors import AuthError, BadRequest, PolicyError, json_text

log = logging.getLogger("flask_auth_service_mongo")

MAX_BODY_BYTES = 64 * 1024
#: Bounds parsing, validation and error reporting (whose cost grows with
#: the square of the number of fields).
MAX_TOKENS = 2000
GRAPHIQL_VERSION = "3.8.3"
GRAPHIQL_PAGE = f"""<!doctype html>
<html><head><title>GraphiQL</title>
<link rel="stylesheet" href="https://unpkg.com/graphiql@{GRAPHIQL_VERSION}/graphiql.min.css"></head>
<body style="margin:0"><div id="graphiql" style="height:100vh"></div>
<script src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
<script src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
<script src="https://unpkg.com/graphiql@{GRAPHIQL_VERSION}/graphiql.min.js"></script>
<script>
ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, {{
  fetcher: GraphiQL.createFetcher({{url: window.location.href}}),
  defaultEditorToolsVisibility: true,
}}));
</script></body></html>
"""


def json_response(body: dict, status: int, headers: Optional[dict] = None) -> Response:
    """Formatted like the REST answers (``errors.json_text``)."""
    return Response(json_text(body), status, headers, mimetype="application/json")


def error_body(message: str, **extensions: Any) -> dict:
    error: dict[str, Any] = {"message": message}
    if extensions:
        error["extensions"] = extensions
    return {"errors": [error]}


def read_operation() -> tuple[str, Optional[dict], Optional[str]]:
    """The query, variables and operation name of the body; BadRequest otherwise."""
    if not request.is_json:
        raise BadRequest({"Content-Type": "must be application/json"})
    body = read_json_body(MAX_BODY_BYTES)
    query, variables, name = body.get("query"), body.get("variables"), body.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise BadRequest({"query": "must be a non-empty string"})
    if variables is not None and not isinstance(variables, dict):
        raise BadRequest({"variables": "must be an object"})
    if name is not None and not isinstance(name, str):
        raise BadRequest({"operationName": "must be a string"})
    if not is_unicode_text(json.dumps(body, ensure_ascii=False)):
        raise BadRequest({"body": "must be valid Unicode text"})
    return query, variables, name


def format_error(error: GraphQLError) -> dict:
    """GraphQL's one translator: the error as sent, its own message, the
    code of a refusal or broken rule, or a code that leaks nothing."""
    original = error.original_error
    formatted = error.formatted
    if original is None or isinstance(original, GraphQLError):
        return formatted
    if isinstance(original, AuthError):
        formatted["message"] = original.message
    elif isinstance(original, PolicyError):
        formatted["message"] = original.code
    elif database_failure(original) is not None:
        formatted["message"] = "service_unavailable"
    else:
        log.error("GraphQL resolver %s failed", ".".join(map(str, error.path or ())), exc_info=original)
        formatted["message"] = "internal_error"
    return formatted


def status_of(result: ExecutionResult, errors: list[dict]) -> int:
    """400 when the request could not run at all; 503 when nothing ran for want of the database."""
    if result.data is None and all(error.path is None for error in result.errors or ()):
        return 400
    data = result.data or {}
    if all(value is None for value in data.values()) and any(e["message"] == "service_unavailable" for e in errors):
        return 503
    return 200


class GraphQLView(View):
    """The endpoint of one schema; ``middleware`` as graphql-core takes it."""

    methods = ["GET", "POST"]

    def __init__(self, schema: Any, middleware: Iterable[Any] = (), graphiql: Optional[bool] = None):
        self.schema = getattr(schema, "graphql_schema", schema)
        self.middleware = list(middleware)
        self.graphiql = graphiql

    def dispatch_request(self):
        if request.method == "GET":
            if self.graphiql or (self.graphiql is None and current_app.debug):
                return GRAPHIQL_PAGE
            return json_response(error_body("method_not_allowed"), 405, {"Allow": "POST"})
        try:
            query, variables, operation_name = read_operation()
        except BadRequest as error:
            return json_response(error_body(error.message, detail=error.errors), 400)
        result = self.run(query, variables, operation_name)
        errors = [format_error(error) for error in result.errors or ()]
        status = status_of(result, errors)
        body: dict[str, Any] = {} if status == 400 else {"data": result.data}
        if errors:
            body["errors"] = errors
        return json_response(body, status)

    def run(self, query: str, variables: Optional[dict], operation_name: Optional[str]) -> ExecutionResult:
        """Parse (bounded), validate, then execute the operation."""
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError as error:
            return ExecutionResult(None, [error])
        errors = validate(self.schema, document)
        if errors:
            return ExecutionResult(None, errors)
        return execute(
            self.schema, document, variable_values=variables, operation_name=operation_name, middleware=self.middleware
        )


def mount(
    target: Union[Blueprint, Flask],
    schema: Any,
    rule: str = "/graphql",
    middleware: Iterable[Any] = (),
    graphiql: Optional[bool] = None,
    endpoint: str = "graphql",
) -> None:
    """Serve ``schema`` at ``rule`` of a blueprint or app; GraphiQL follows debug mode unless ``graphiql`` is set."""
    view = GraphQLView.as_view(endpoint, schema=schema, middleware=middleware, graphiql=graphiql)
    target.add_url_rule(rule, view_func=view, methods=GraphQLView.methods)
