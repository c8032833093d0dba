"""flask-auth-service-mongo: API login, logout and guarded routes for Flask,
with sessions kept in MongoDB."""
from . import api_rest, auth, errors, models
from .extension import AuthService

__all__ = ["AuthService", "api_rest", "auth", "errors", "models"]
