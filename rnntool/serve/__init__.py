"""``rnntool serve``: models loaded once behind an HTTP server (starlette + uvicorn, the
``[serve]`` extra). ``create_app`` gives the ASGI application; ``run`` serves it.

    from rnntool.serve import create_app
    app = create_app(["sms-spam", "en-ewt-upos"])      # any ASGI server runs it

docs/serve.md describes the endpoints. Serving never imports torch.
"""

from __future__ import annotations

from rnntool.errors import InputError

__all__ = ["create_app", "ServeLimits", "run", "check_installed", "LOCAL_HOSTS"]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
EXTRA_HINT = 'rnntool serve needs the serve extra: pip install "rnntool[serve]" (starlette and uvicorn)'


def check_installed() -> None:
    """Raise a one-line InputError naming the extra when starlette or uvicorn is missing."""
    import importlib.util

    missing = [m for m in ("starlette", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"{EXTRA_HINT}; missing: {', '.join(missing)}")


check_installed()

from rnntool.serve.app import ServeLimits, create_app  # noqa: E402
from rnntool.serve.server import run  # noqa: E402
