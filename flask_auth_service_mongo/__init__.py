"""flask-auth-service-mongo: API login, logout and guarded routes for Flask,
with sessions kept in MongoDB."""

__version__ = "0.3.0"

from . import api_rest as api_rest
from . import auth as auth
from . import errors as errors
from . import models as models
from . import schema as schema
from . import signals as signals
from .extension import AuthService as AuthService
from .schema import MutationMiddleware as MutationMiddleware
from .schema import Roles as Roles

__all__ = [
    "__version__",
    "AuthService",
    "MutationMiddleware",
    "Roles",
    "api_rest",
    "auth",
    "errors",
    "models",
    "schema",
    "signals",
]
