"""Serving a graphene schema: ``POST`` a JSON ``{"query", "variables", "operationName"}``.

``mount(blueprint, schema)`` adds ``<prefix>/graphql`` in one line. A request
that cannot run (a body that is not a JSON object, no query, a syntax error,
bad variables) answers 400 with a GraphQL error body, never a 500; so does a
document that asks for too much work (``query_too_complex``): its length is
checked before parsing, its selections and spreads on the parsed document
before any validation rule runs. Introspection and "did you
mean" suggestions are off unless the app is in debug mode. Resolver
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
from flask.typing import ResponseReturnValue
from flask.views import View
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLFormattedError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    execute_sync,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule

from .bodies import is_unicode_text, read_json_body
from .database import database_failure
from .errors import AuthError, BadRequest, PolicyError, json_text

log = logging.getLogger("flask_auth_service_mongo")

MAX_BODY_BYTES = 64 * 1024
#: Bounds parsing, validation and error reporting (whose cost grows with
#: the square of the number of fields): the query's length in characters
#: (checked before parsing) and its tokens.
MAX_QUERY_LENGTH = 16 * 1024
MAX_TOKENS = 2000
#: Bounds validation and execution: field selections in the document
#: (fragment spreads expanded, each alias and repeat counted) and their depth.
MAX_SELECTIONS = 200
MAX_DEPTH = 12
#: Fragments spread within fragments deeper than this are refused too.
MAX_FRAGMENT_NESTING = 32
#: Fragment spreads in one selection set (graphql-core's "overlapping
#: fields" rule compares them pairwise).
MAX_SPREADS_PER_SELECTION_SET = 50
INTROSPECTION_FIELDS = frozenset(("__schema", "__type"))
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


def json_response(body: dict[str, Any], status: int, headers: Optional[dict[str, str]] = None) -> Response:
    """Formatted like the REST answers (``errors.json_text``)."""
    return Response(json_text(body), status, headers, mimetype="application/json")


def error_body(message: str, **extensions: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message}
    if extensions:
        error["extensions"] = extensions
    return {"errors": [error]}


def read_operation() -> tuple[str, Optional[dict[str, Any]], Optional[str]]:
    """The query, variables and operation name of the body; BadRequest otherwise."""
    body = read_json_body(MAX_BODY_BYTES)  # application/json only
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


class TooComplex(Exception):
    """The document is longer than ``MAX_QUERY_LENGTH``, or asks for more than
    ``MAX_SELECTIONS`` fields, ``MAX_DEPTH`` levels or
    ``MAX_SPREADS_PER_SELECTION_SET`` spreads in one selection set."""


class Cost:
    """The work a parsed document asks for: ``Cost(document).check()`` raises TooComplex over the bounds.

    Each fragment is measured once and a count stops as soon as it passes the
    bound, so the walk is linear in the document however its fragments
    spread each other; a fragment cycle is infinite, so too complex (the
    parser already bounds the nesting within one definition). A spread of
    an undefined fragment counts as one selection (validation refuses it,
    but only after comparing it with its neighbours).
    ``skip_introspection`` counts ``__schema``/``__type`` as one field each
    (debug mode, where GraphiQL sends its large introspection query).
    """

    def __init__(self, document: DocumentNode, skip_introspection: bool = False):
        self.skip_introspection = skip_introspection
        self.fragments: dict[str, FragmentDefinitionNode] = {}
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                self.fragments.setdefault(definition.name.value, definition)
        self.measured: dict[str, tuple[int, int]] = {}
        self.active: list[str] = []
        self.exempted: set[str] = set()
        self.document = document

    def check(self) -> None:
        total = 0
        for definition in self.document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                total += self.within_bounds(self.selection_set(definition.selection_set))
            elif isinstance(definition, FragmentDefinitionNode):
                name = definition.name.value
                if self.fragments[name] is not definition:  # a duplicate: validation refuses it
                    total += self.within_bounds(self.selection_set(definition.selection_set))
            if total > MAX_SELECTIONS:
                raise TooComplex()
        # Fragments no operation spreads are validated all the same.
        for name in self.fragments:
            if name not in self.measured and name not in self.exempted:
                total += self.within_bounds(self.fragment(name))
            if total > MAX_SELECTIONS:
                raise TooComplex()

    @staticmethod
    def within_bounds(cost: tuple[int, int]) -> int:
        count, depth = cost
        if count > MAX_SELECTIONS or depth > MAX_DEPTH:
            raise TooComplex()
        return count

    def selection_set(self, selection_set: Optional[SelectionSetNode]) -> tuple[int, int]:
        """(field selections, depth) of ``selection_set``, fragments expanded."""
        count = depth = spreads = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                if self.skip_introspection and selection.name.value in INTROSPECTION_FIELDS:
                    self.exempt(selection.selection_set)
                    inner = (0, 0)
                else:
                    inner = self.selection_set(selection.selection_set)
                count, depth = count + 1 + inner[0], max(depth, 1 + inner[1])
            elif isinstance(selection, InlineFragmentNode):
                inner = self.selection_set(selection.selection_set)
                count, depth = count + inner[0], max(depth, inner[1])
            elif isinstance(selection, FragmentSpreadNode):
                spreads += 1
                if spreads > MAX_SPREADS_PER_SELECTION_SET:
                    raise TooComplex()
                inner = self.fragment(selection.name.value)
                count, depth = count + inner[0], max(depth, inner[1])
            self.within_bounds((count, depth))
        return count, depth

    def exempt(self, selection_set: Optional[SelectionSetNode]) -> None:
        """Leave out of the count the fragments spread under an introspection field."""
        stack = [selection_set]
        while stack:
            current = stack.pop()
            for selection in current.selections if current else ():
                if isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name not in self.exempted and name in self.fragments:
                        self.exempted.add(name)
                        stack.append(self.fragments[name].selection_set)
                elif isinstance(selection, (FieldNode, InlineFragmentNode)):
                    stack.append(selection.selection_set)

    def fragment(self, name: str) -> tuple[int, int]:
        if name in self.measured:
            return self.measured[name]
        if name in self.active or len(self.active) >= MAX_FRAGMENT_NESTING:
            raise TooComplex()
        definition = self.fragments.get(name)
        if definition is None:  # unknown: validation refuses it, one selection until then
            return 1, 1
        self.active.append(name)
        cost = self.measured[name] = self.selection_set(definition.selection_set)
        self.active.pop()
        return cost


def format_error(error: GraphQLError) -> GraphQLFormattedError:
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


def status_of(result: ExecutionResult, errors: list[GraphQLFormattedError]) -> int:
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

    def dispatch_request(self) -> ResponseReturnValue:
        if request.method == "GET":
            if self.graphiql or (self.graphiql is None and current_app.debug):
                return GRAPHIQL_PAGE
            return json_response(error_body("method_not_allowed"), 405, {"Allow": "POST"})
        try:
            query, variables, operation_name = read_operation()
        except BadRequest as error:
            return json_response(error_body(error.message, detail=error.errors), 400)
        try:
            result = self.run(query, variables, operation_name)
        except TooComplex:
            return json_response(error_body("query_too_complex"), 400)
        errors = [format_error(error) for error in result.errors or ()]
        status = status_of(result, errors)
        body: dict[str, Any] = {} if status == 400 else {"data": result.data}
        if errors:
            body["errors"] = errors
        return json_response(body, status)

    def run(self, query: str, variables: Optional[dict[str, Any]], operation_name: Optional[str]) -> ExecutionResult:
        """Parse (bounded), measure (TooComplex), validate, then execute the operation."""
        if len(query) > MAX_QUERY_LENGTH:
            raise TooComplex()
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError as error:
            return ExecutionResult(None, [error])
        debug = current_app.debug
        Cost(document, skip_introspection=debug).check()
        rules = specified_rules if debug else (*specified_rules, NoSchemaIntrospectionCustomRule)
        errors = validate(self.schema, document, rules, hide_suggestions=not debug)
        if errors:
            return ExecutionResult(None, errors)
        return execute_sync(
            self.schema,
            document,
            variable_values=variables,
            operation_name=operation_name,
            middleware=self.middleware,
            hide_suggestions=not debug,
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
