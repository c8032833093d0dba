"""The package's shape: one import direction, and one module that ends sessions."""

import ast
import pkgutil
from pathlib import Path

from conftest import PASSWORD, bearer

import flask_auth_service_mongo

PACKAGE = Path(flask_auth_service_mongo.__file__).parent
#: The store's functions that remove sessions.
ENDING = {"end", "end_all", "clear"}


def modules() -> dict[str, ast.Module]:
    return {
        info.name: ast.parse((PACKAGE / f"{info.name}.py").read_text()) for info in pkgutil.iter_modules([str(PACKAGE)])
    }


def package_imports(tree: ast.Module) -> set[str]:
    """The package's modules a module imports, function-level imports included."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_the_package_has_no_import_cycle():
    graph = {name: package_imports(tree) for name, tree in modules().items()}

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, (*seen, n))) for n in graph.get(start, ()))

    assert [name for name in graph if name != "__init__" and reaches(name, name)] == []


def test_only_the_service_ends_sessions():
    callers = set()
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ENDING:
                if isinstance(node.func.value, ast.Name) and node.func.value.id in ("store", "sessions"):
                    callers.add(name)
    assert callers == {"service"}


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
