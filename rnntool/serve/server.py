"""Running the application: the socket bound first (a port in use is a one-line error, and
port 0 picks a free one), then uvicorn in this process or in ``workers`` processes that
each load the models once."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys

from rnntool.errors import InputError, OptionError
from rnntool.serve.app import ServeLimits, create_app

SETTINGS_ENV = "RNNTOOL_SERVE_SETTINGS"  # how worker processes learn what to load
log = logging.getLogger("rnntool.serve")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on such sockets' connections, and
    # without it every keep-alive answer waits ~40 ms for a delayed ACK (measured)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == 98:
            raise InputError(f"port {port} on {host} is in use: choose another with --port (0 picks a free one)") \
                from None
        raise InputError(f"cannot listen on {host}:{port} ({error.strerror}): check --host and --port") from None
    sock.set_inheritable(True)
    return sock


def log_config() -> dict:
    """uvicorn's logging, all of it on stderr (its access log goes to stdout by default;
    stdout is for data)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for handler in config["handlers"].values():
        handler["stream"] = "ext://sys.stderr"
    return config


def app_from_environment():
    """The application of one worker process (``--workers`` above 1), from the settings the
    parent process left in the environment."""
    settings = json.loads(os.environ[SETTINGS_ENV])
    return create_app(settings["models"], limits=ServeLimits(**settings["limits"]), token=settings["token"],
                      log_texts=settings["log_texts"])


def run(models: list[str] | tuple[str, ...] = (), *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
        token: str | None = None, limits: ServeLimits | None = None, quiet: bool = False, log_texts: bool = False,
        shutdown_timeout: float = 10.0, on_ready=None) -> None:
    """Serve ``models`` until SIGTERM or Ctrl-C (then: stop accepting, let the requests in
    flight finish for up to ``shutdown_timeout`` seconds, return). ``on_ready(url, app_or_None)``
    is called once the socket listens."""
    import uvicorn

    if workers < 1:
        raise OptionError("workers", "must be at least 1", workers)
    limits = limits or ServeLimits()
    if workers == 1:
        app = create_app(list(models), limits=limits, token=token, log_texts=log_texts)
        target = app
    else:  # each worker loads the models itself; load them here once to refuse bad ones before forking
        from rnntool.serve.models import ServedModels

        ServedModels.load(list(models))
        app = None
        os.environ[SETTINGS_ENV] = json.dumps({"models": list(models), "limits": limits.__dict__,
                                               "token": token, "log_texts": log_texts})
        target = "rnntool.serve.server:app_from_environment"
    sock = bind(host, port)
    config = uvicorn.Config(target, factory=workers > 1, workers=workers, log_level="warning" if quiet else "info",
                            access_log=not quiet, timeout_graceful_shutdown=shutdown_timeout, lifespan="on",
                            server_header=False, log_config=log_config())
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{sock.getsockname()[1]}"
    if log_texts:
        logging.getLogger("rnntool.serve").setLevel(logging.INFO)
    if on_ready is not None:
        on_ready(url, app)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for the
    # handler it found: this one ignores it, so a graceful stop exits 0 (not -15 or 130)
    saved = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if workers == 1:
            uvicorn.Server(config).run(sockets=[sock])
        else:
            import inspect

            from uvicorn.supervisors import Multiprocess

            takes_target = "target" in inspect.signature(Multiprocess).parameters  # uvicorn before 0.30
            extra = {"target": uvicorn.Server(config).run} if takes_target else {}
            Multiprocess(config, sockets=[sock], **extra).run()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        sock.close()
    sys.stderr.flush()


def _stopped(signum, frame) -> None:
    """The signal uvicorn raises again once it has stopped: already handled."""
