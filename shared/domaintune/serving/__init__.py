"""REST serving for the core and the apps: one FastAPI server module, apps add routes.

See ``domaintune serve --help`` and the README's "Serve a model" section.
"""

from .errors import ApiError, error_body
from .routes import Routes

__all__ = ["ApiError", "Routes", "error_body"]
