"""flask-auth-service-mongo: API login, logout and guarded routes for Flask,
with sessions kept in MongoDB."""

from . import api_rest, auth, errors, models, schema
from .extension import AuthService
from .schema import MutationMiddleware, Roles

__all__ = ["AuthService", "MutationMiddleware", "Roles", "api_rest", "auth", "errors", "models", "schema"]
