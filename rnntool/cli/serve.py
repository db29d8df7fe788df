"""rnntool serve: models loaded once behind an HTTP server (the serve extra)."""

from __future__ import annotations

import typer

from rnntool.cli import app
from rnntool.cli.common import handle_errors, info, model_completion
from rnntool.cli.options import NON_NEGATIVE, POSITIVE, number

SERVE_HELP = """Serve models over HTTP: JSON endpoints, an OpenAI-compatible /v1/completions, and a page.

Each MODEL (a bundled name, a model file, or NAME=FILE) is loaded once; with none, the
bundled models and your latest trained ones. GET / is a page to try them; the API is
under /v1 (docs/serve.md): models, generate (streamed), completions, tag, classify,
score; /healthz for health checks. Requests that arrive together share one model call.
Binds 127.0.0.1; another host needs --token (or $RNNTOOL_SERVE_TOKEN) or --no-auth.
SIGTERM or Ctrl-C: stop accepting, finish the requests in flight, exit 0. Needs
pip install "rnntool[serve]".
"""

TOKEN_ENV = "RNNTOOL_SERVE_TOKEN"


@app.command("serve", help=SERVE_HELP)
@handle_errors
def serve_command(
    models: list[str] = typer.Argument(None, metavar="[MODEL]...", autocompletion=model_completion(),
                                       help="Bundled names, model files, or NAME=FILE [default: the bundled models and your latest trained ones]."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface; needs --token or --no-auth)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on (0: a free one, printed)."),
    workers: int = typer.Option(1, "--workers", min=1, metavar="N", help="Worker processes, each with the models loaded once."),
    token: str = typer.Option(None, "--token", metavar="TOKEN", envvar=TOKEN_ENV, show_envvar=False, help=f"Require 'Authorization: Bearer TOKEN' on the API (also ${TOKEN_ENV}, which keeps it out of ps)."),
    no_auth: bool = typer.Option(False, "--no-auth", help="Allow a host other than 127.0.0.1 without a token (anyone who reaches it can use it)."),
    max_body: int = typer.Option(1 << 20, "--max-body", min=1, metavar="BYTES", help="Largest request body (413 past it)."),
    max_tokens: int = typer.Option(4096, "--max-tokens", min=1, metavar="N", help="Most tokens one generation may ask for."),
    timeout: float = typer.Option(60.0, "--timeout", callback=POSITIVE, metavar="S", help="Seconds a request may take (504 past it)."),
    max_generations: int = typer.Option(16, "--max-generations", min=1, metavar="N", help="Generations at once (each model's run as one batch); past them 503 with Retry-After."),
    batch_wait_ms: float = typer.Option(2.0, "--batch-wait-ms", callback=number(0.0, 1000.0), metavar="MS", help="How long a request waits for others to share its model call."),
    shutdown_timeout: float = typer.Option(10.0, "--shutdown-timeout", callback=NON_NEGATIVE, metavar="S", help="On SIGTERM/Ctrl-C, how long requests in flight may still run."),
    log_texts: bool = typer.Option(False, "--log-texts", help="Log the texts of each request on stderr (never, without it)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No access log and no notes on stderr; errors only."),
) -> None:
    from rnntool.errors import InputError

    import rnntool.serve as serve  # without the extra: a one-line error naming it
    if host not in serve.LOCAL_HOSTS and not token and not no_auth:
        raise InputError(f"--host {host} lets anyone who reaches this machine use the server: give --token TOKEN "
                         f"(or ${TOKEN_ENV}), or --no-auth to allow it")
    limits = serve.ServeLimits(max_body=max_body, max_tokens=max_tokens, timeout=timeout,
                               max_generations=max_generations, batch_wait=batch_wait_ms / 1000.0)

    def ready(url: str, app_or_none) -> None:
        names = list(app_or_none.state.rnntool.served.by_name) if app_or_none is not None else models or ["the bundled"]
        info(f"rnntool serve: {len(names)} model(s) ({', '.join(names)}) on {url} -- the page at {url}/, "
             f"the API under {url}/v1 (docs/serve.md){'; a token is required' if token else ''}", quiet)

    serve.run(models or [], host=host, port=port, workers=workers, token=token or None, limits=limits, quiet=quiet,
              log_texts=log_texts, shutdown_timeout=shutdown_timeout, on_ready=ready)
