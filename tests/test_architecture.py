"""The package's shape: one import direction, and one place that ends sessions."""

import ast
import pkgutil
import re
from pathlib import Path

from conftest import PASSWORD, bearer

import flask_auth_service_mongo

PACKAGE = Path(flask_auth_service_mongo.__file__).parent
#: The package's layers, lowest first: a module imports only from its own
#: layer or below. A module not listed is a flow (the layer of ``signin``).
LAYERS = [
    {"errors", "clock", "records", "keys", "config", "tokens", "bodies", "cache", "passwords", "signals"},
    {"state"},
    {"database"},
    {"mirror", "throttle", "models", "emails"},
    {"store"},
    {"policies", "transport", "apidoc", "compat", "audit", "events", "event_writer"},
    {"signin", "accounts", "propagation"},
    {"auth"},
    {"api_rest", "schema", "graphql_view", "cli"},
    {"extension", "__init__"},
]
FLOWS = 6
#: Writes that remove documents.
REMOVING = re.compile(r"\.(delete_one|delete_many|find_one_and_delete|drop|remove)\(")


def modules() -> dict[str, ast.Module]:
    return {
        info.name: ast.parse((PACKAGE / f"{info.name}.py").read_text()) for info in pkgutil.iter_modules([str(PACKAGE)])
    }


def layer(name: str) -> int:
    return next((rank for rank, names in enumerate(LAYERS) if name in names), FLOWS)


def runtime_imports(tree: ast.Module) -> set[str]:
    """The package's modules a module imports when it runs (function-level
    imports included, ``if TYPE_CHECKING:`` blocks left out)."""
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
        for statement in block.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and id(node) not in typing_only:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_the_package_has_no_import_cycle():
    graph = {name: runtime_imports(tree) for name, tree in modules().items()}

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, (*seen, n))) for n in graph.get(start, ()))

    assert [name for name in graph if name != "__init__" and reaches(name, name)] == []


def test_no_module_imports_from_a_layer_above_its_own():
    upward = {
        (name, imported)
        for name, tree in modules().items()
        for imported in runtime_imports(tree)
        if layer(imported) > layer(name)
    }
    assert upward == set()


def test_only_the_store_removes_sessions():
    """Session documents are removed by ``store.py`` alone (``SessionStore.end``
    and the expiry clean-up): no other module deletes from a collection
    named ``session`` or through the ``Session`` model."""
    offenders = set()
    for path in PACKAGE.glob("*.py"):
        if path.name == "store.py":
            continue
        for line in path.read_text().splitlines():
            if REMOVING.search(line) and re.search(r"\bsessions?\b|Session\b|\"session\"", line):
                offenders.add(path.name)
    assert offenders == set()


def test_every_ending_path_in_the_store_goes_through_end():
    """Inside the store, only ``end`` and ``clear_expired`` remove sessions."""
    tree = ast.parse((PACKAGE / "store.py").read_text())
    removers = {
        function.name
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Attribute) and node.attr in ("delete_one", "delete_many")
    }
    assert removers == {"end", "clear_expired"}


def test_an_async_view_is_guarded_like_any_other(make_app, make_user, login):
    from flask_auth_service_mongo import auth

    app = make_app()

    @app.get("/async/me")
    @auth.required(role="admin")
    async def async_me():
        return {"message": "ok", "username": auth.current_user().username}

    client = app.test_client()
    make_user()
    token = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
    assert client.get("/async/me").status_code == 401
    response = client.get("/async/me", headers=bearer(token))
    assert (response.status_code, response.json) == (200, {"message": "ok", "username": "alice"})
    assert async_me.__name__ == "async_me"
