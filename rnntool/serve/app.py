"""The HTTP application: JSON endpoints over the loaded models, the page, health and stats.

Every answer is a library result's ``to_dict()``, so ``--json``, the API and the server say
the same thing; every error is ``{"error": {"message", "type", "code"}}`` with the message
the CLI would print.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from rnntool.errors import InputError, ModelFileError, OutOfRangeError, RnntoolError, WrongKindError
from rnntool.recipes import GENERATION
from rnntool.serve.batching import MicroBatcher
from rnntool.serve.bodies import Body, RequestError, error_body, read_json
from rnntool.serve.generation import BusyError, GenerationRuns, GenerationTimeout
from rnntool.serve.models import ServedModels, UnknownModelError

log = logging.getLogger("rnntool.serve")

OPENAI_DEFAULTS = dict(max_tokens=16, temperature=1.0, top_p=1.0)  # what OpenAI's clients expect unsaid
PAGE_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
              "/page.js": ("page.js", "text/javascript; charset=utf-8"),
              "/page.css": ("page.css", "text/css; charset=utf-8")}


@dataclass(frozen=True)
class ServeLimits:
    """What one request may ask of the server (each a ``rnntool serve`` option)."""

    max_body: int = 1 << 20  #: bytes of request body (413 past it)
    max_tokens: int = 4096  #: tokens one generation may ask for
    timeout: float = 60.0  #: seconds a request may take (504 past it; a stream ends with an error line)
    max_generations: int = 16  #: generations at once, stepped as one batch per model (503 past it)
    batch_wait: float = 0.002  #: seconds a request waits for others to share its model call
    max_batch: int = 256  #: texts in one model call at most

    def __post_init__(self) -> None:
        for name in ("max_body", "max_tokens", "max_generations", "max_batch"):
            if getattr(self, name) < 1:
                raise OutOfRangeError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not self.timeout > 0:
            raise OutOfRangeError(f"timeout must be above 0 seconds, not {self.timeout}")
        if not 0 <= self.batch_wait <= 1:
            raise OutOfRangeError(f"batch_wait must be between 0 and 1 second, not {self.batch_wait}")


class ServerState:
    """What the endpoints share: the models, their batchers, the generations, the limits."""

    def __init__(self, served: ServedModels, limits: ServeLimits, token: str | None, log_texts: bool):
        self.served = served
        self.limits = limits
        self.token = token
        self.log_texts = log_texts
        self.started = time.time()
        self.batch_executor = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                                                 thread_name_prefix="rnntool-batch")
        self.batchers: dict[tuple, MicroBatcher] = {}
        self.generations = GenerationRuns(limits.max_generations)
        for served_model in served.by_name.values():  # their loops start now, warm before the first request
            if served_model.kind == "lm":
                self.generations.loop_of(served_model.model)

    def batcher(self, key: tuple, run: Callable[[list], list]) -> MicroBatcher:
        batcher = self.batchers.get(key)
        if batcher is None:
            batcher = self.batchers[key] = MicroBatcher(run, self.batch_executor, max_wait=self.limits.batch_wait,
                                                        max_items=self.limits.max_batch)
        return batcher

    def check_token(self, request: Request) -> None:
        if self.token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise RequestError(401, "this server needs its token: send the header 'Authorization: Bearer TOKEN'",
                               "authentication_error", {"WWW-Authenticate": "Bearer"})

    def stats(self) -> dict:
        by_endpoint: dict[str, dict] = {}
        for (name, endpoint, *_), batcher in self.batchers.items():
            row = by_endpoint.setdefault(f"{endpoint} {name}", {"calls": 0, "requests": 0, "items": 0})
            for key in row:
                row[key] += getattr(batcher.stats, key)
        for row in by_endpoint.values():
            row["mean_batch_items"] = round(row["items"] / row["calls"], 2) if row["calls"] else 0.0
        return {"uptime_s": round(time.time() - self.started, 1), "pid": os.getpid(), "batches": by_endpoint,
                "generations": self.generations.to_dict(), "limits": asdict(self.limits)}

    def close(self) -> None:
        self.generations.close()
        self.batch_executor.shutdown(wait=False, cancel_futures=True)


# --- errors ------------------------------------------------------------------------------

def error_response(status: int, message: str, type: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, type), status_code=status, headers=headers)


def _answer_error(error: Exception) -> JSONResponse:
    if isinstance(error, RequestError):
        return error_response(error.status, error.message, error.type, error.headers)
    if isinstance(error, UnknownModelError):
        return error_response(404, str(error), "model_not_found")
    if isinstance(error, BusyError):
        return error_response(503, str(error), "server_busy", {"Retry-After": "1"})
    if isinstance(error, GenerationTimeout):
        return error_response(504, str(error), "timeout")
    if isinstance(error, WrongKindError):
        return error_response(400, str(error), "wrong_model_kind")
    if isinstance(error, OutOfRangeError):
        return error_response(400, str(error), "out_of_range")
    if isinstance(error, (InputError, ModelFileError, RnntoolError)):
        return error_response(400, str(error), "invalid_request_error")
    log.exception("unexpected error answering a request")
    return error_response(500, f"unexpected error: {type(error).__name__}: {error} (a bug: please report it)",
                          "internal_error")


def endpoint(handler, *, auth: bool = True):
    """A route's function: the token checked, the state passed, errors answered as JSON."""

    async def answer(request: Request) -> Response:
        state: ServerState = request.app.state.rnntool
        try:
            if auth:
                state.check_token(request)
            return await handler(request, state)
        except Exception as error:  # noqa: BLE001 - rnntool's and the request's errors become 4xx/5xx JSON
            return _answer_error(error)

    return answer


def _log_texts(state: ServerState, request: Request, model: str, texts) -> None:
    if state.log_texts:
        log.info("%s %s model=%s texts=%s", request.method, request.url.path, model,
                 json.dumps(texts, ensure_ascii=False))


# --- batched endpoints ------------------------------------------------------------------------

async def _batched(request: Request, state: ServerState, endpoint_name: str, kind: str,
                   read_options: Callable[[Body], dict], call: Callable) -> Response:
    body = Body(await read_json(request, state.limits.max_body), endpoint_name)
    served = state.served.get(body.string("model"), kind, endpoint_name)
    items, single = body.texts(tokens_allowed=kind == "tagger")
    options = read_options(body)
    body.finish()
    _log_texts(state, request, served.name, items)
    if items:
        key = (served.name, endpoint_name, *sorted(options.items()))
        batcher = state.batcher(key, lambda batch: call(served.model, batch, **options))
        try:
            results = await asyncio.wait_for(batcher.submit(items), state.limits.timeout)
        except asyncio.TimeoutError:
            raise GenerationTimeout(f"the request ran past the server's timeout of {state.limits.timeout:g} s") \
                from None
    else:
        results = []
    answers = [r.to_dict() for r in results]
    return JSONResponse({"model": served.name, "result": answers[0]} if single
                        else {"model": served.name, "results": answers})


def _classify_options(body: Body) -> dict:
    from rnntool.api.classifier import _check_top_k_threshold

    options = {"top_k": body.integer("top_k", 1), "threshold": body.number("threshold")}
    _check_top_k_threshold(options["top_k"], options["threshold"])  # one bad request, not a bad batch
    return options


async def classify(request: Request, state: ServerState) -> Response:
    return await _batched(request, state, "/v1/classify", "classifier", _classify_options,
                          lambda model, batch, **o: model.classify(batch, **o))


async def tag(request: Request, state: ServerState) -> Response:
    return await _batched(request, state, "/v1/tag", "tagger",
                          lambda body: {"probabilities": body.boolean("probabilities", True)},
                          lambda model, batch, **o: model.tag(batch, **o))


async def score(request: Request, state: ServerState) -> Response:
    return await _batched(request, state, "/v1/score", "lm", lambda body: {},
                          lambda model, batch: model.score(batch))


# --- generation ------------------------------------------------------------------------------

def _samples(body: Body, state: ServerState, lm, prompts: list[str], n: int, defaults: dict,
             stop_at_eos: bool = False) -> list[tuple[str, object]]:
    """(prompt, GenerationOptions) for each sample a request asks for (``n`` per prompt), the
    options checked as ``generate`` checks them; each sample has its own seed (sample_seeds)."""
    from rnntool.runtime.generate import check_generates
    from rnntool.serve.generation import sample_seeds

    check_generates(lm._runtime)
    max_tokens = body.integer("max_tokens", defaults["max_tokens"])
    if max_tokens > state.limits.max_tokens:
        raise OutOfRangeError(f"max_tokens is at most {state.limits.max_tokens} on this server, not {max_tokens}")
    temperature = body.number("temperature", defaults["temperature"])
    top_k, top_p = body.integer("top_k", defaults.get("top_k", 0)), body.number("top_p", defaults["top_p"])
    stop, seed = body.strings("stop"), body.integer("seed")
    seeds = sample_seeds(seed, len(prompts) * n)
    return [(prompt, lm._options(max_tokens, temperature, False, top_k, top_p, seeds[i * n + j], stop,
                                 stop_at_eos, False))
            for i, prompt in enumerate(prompts) for j in range(n)]


def _wants_sse(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


async def generate(request: Request, state: ServerState) -> Response:
    body = Body(await read_json(request, state.limits.max_body), "/v1/generate")
    served = state.served.get(body.string("model"), "lm", "/v1/generate")
    prompt = body.string("prompt", "")
    samples = _samples(body, state, served.model, [prompt], 1, GENERATION, body.boolean("stop_at_eos", False))
    logprobs, stream = body.boolean("logprobs", False), body.boolean("stream", True)
    body.finish()
    _log_texts(state, request, served.name, [prompt])
    run = state.generations.start(served.model, samples, state.limits.timeout, want_logprob=logprobs)
    if not stream:
        done = None
        async for batch in run.events():
            done = next((e.done for e in batch if e.done is not None), done)
        return JSONResponse({"model": served.name, "result": done.to_dict()})
    sse = _wants_sse(request)

    async def lines() -> AsyncIterator[str]:
        try:
            async for batch in run.events():
                out = []
                for event in batch:
                    kind, record = (("piece", {"piece": event.piece}) if event.done is None
                                    else ("result", {"result": event.done.to_dict()}))
                    out.append(_event_text(kind, record, sse))
                yield "".join(out)
        except RnntoolError as error:  # past the first byte, an error can only be the last event
            yield _event_text("error", error_body(504 if isinstance(error, GenerationTimeout) else 400,
                                                  str(error), type(error).__name__), sse)

    return StreamingResponse(lines(), media_type="text/event-stream" if sse else "application/x-ndjson",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _event_text(kind: str, record: dict, sse: bool) -> str:
    data = json.dumps(record, ensure_ascii=False)
    return f"event: {kind}\ndata: {data}\n\n" if sse else data + "\n"


# --- OpenAI's completions ----------------------------------------------------------------------

# fields OpenAI's clients may send that change nothing here at their neutral values
OPENAI_NEUTRAL = {"presence_penalty": (0, 0.0), "frequency_penalty": (0, 0.0), "logprobs": (0, False),
                  "echo": (False,), "suffix": ("",), "best_of": (1,), "logit_bias": ({},)}


async def completions(request: Request, state: ServerState) -> Response:
    """``POST /v1/completions`` in OpenAI's wire format (llama.cpp's and vLLM's servers take it too)."""
    body = Body(await read_json(request, state.limits.max_body), "/v1/completions",
                ignored=("user", "stream_options"))
    served = state.served.get(body.string("model"), "lm", "/v1/completions")
    for name, neutral in OPENAI_NEUTRAL.items():
        value = body.data.get(name)
        body.taken.add(name)
        if value is not None and value not in neutral:
            raise InputError(f"{name!r} is not supported by rnntool's language models (leave it out)")
    prompts = body.prompts()
    if len(prompts) > state.limits.max_generations:
        raise OutOfRangeError(f"at most {state.limits.max_generations} prompts per request here "
                              f"(--max-generations), not {len(prompts)}")
    n = body.integer("n", 1)
    most = max(1, state.limits.max_generations // len(prompts))
    if not 1 <= n <= most:
        raise OutOfRangeError(f"n must be between 1 and {most} here ({len(prompts)} prompt(s), "
                              f"--max-generations {state.limits.max_generations}), not {n}")
    lm = served.model
    samples = _samples(body, state, lm, prompts, n, OPENAI_DEFAULTS)
    stream = body.boolean("stream", False)
    include_usage = bool((body.data.get("stream_options") or {}).get("include_usage"))
    body.finish()
    _log_texts(state, request, served.name, prompts)
    run = state.generations.start(lm, samples, state.limits.timeout, keep_text=not stream)
    ident, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    prompt_tokens = sum(len(lm.tokenize(p)) for p in prompts)

    def envelope(choices: list, usage: dict | None = None) -> dict:
        record = {"id": ident, "object": "text_completion", "created": created, "model": served.name,
                  "choices": choices, "system_fingerprint": None}
        if usage is not None:
            record["usage"] = usage
        return record

    def usage(completion_tokens: int) -> dict:
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens}

    def choice(index: int, text: str, finish: str | None) -> dict:
        return {"index": index, "text": text, "logprobs": None, "finish_reason": finish}

    if not stream:
        done = {}
        async for batch in run.events():
            done.update((e.index, e.done) for e in batch if e.done is not None)
        choices = [choice(i, g.text, _finish_reason(g)) for i, g in sorted(done.items())]
        return JSONResponse(envelope(choices, usage(sum(g.tokens for g in done.values()))))

    async def chunks() -> AsyncIterator[str]:
        completion_tokens = 0
        try:
            async for batch in run.events():
                out = []
                for e in batch:
                    if e.done is None:
                        out.append(envelope([choice(e.index, e.piece, None)]))
                    else:
                        completion_tokens += e.done.tokens
                        out.append(envelope([choice(e.index, "", _finish_reason(e.done))]))
                yield "".join(f"data: {json.dumps(r, ensure_ascii=False)}\n\n" for r in out)
            if include_usage:
                yield f"data: {json.dumps(envelope([], usage(completion_tokens)))}\n\n"
        except RnntoolError as error:
            yield f"data: {json.dumps(error_body(400, str(error), type(error).__name__))}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(chunks(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _finish_reason(generation) -> str:
    return "length" if generation.stop_reason == "max_tokens" else "stop"


# --- the rest ------------------------------------------------------------------------------------

async def list_models(request: Request, state: ServerState) -> Response:
    return JSONResponse({"object": "list", "data": state.served.listing()})


async def healthz(request: Request, state: ServerState) -> Response:
    return JSONResponse({"status": "ok", "models": list(state.served.by_name)})


async def stats(request: Request, state: ServerState) -> Response:
    return JSONResponse(state.stats())


_page_cache: dict[str, bytes] = {}


async def page(request: Request, state: ServerState) -> Response:
    name, media_type = PAGE_FILES[request.url.path]
    if name not in _page_cache:
        _page_cache[name] = resources.files("rnntool.serve").joinpath("page", name).read_bytes()
    return Response(_page_cache[name], media_type=media_type)


async def _http_error(request: Request, error: HTTPException) -> Response:
    messages = {404: f"no such endpoint: {request.url.path} (the API is under /v1; GET /v1/models lists the models)",
                405: f"{request.method} is not allowed on {request.url.path}"}
    return error_response(error.status_code, messages.get(error.status_code, str(error.detail)),
                          "not_found" if error.status_code == 404 else "invalid_request_error",
                          getattr(error, "headers", None))


# Code run once (imports, the first streaming response, the first batches) would otherwise fall
# on the first generations after start-up: the first 8 concurrent generations' first piece
# came at 67-124 ms, later ones at 20-40 ms (bench/serve_load.py --first-pieces). Before the
# first connection, the default language model answers one small generation through the whole
# application (the code is every language model's). Measured: that window's p99 44-72 ms in 7
# runs, no start-up cost above the machine's noise. Warming every model (taggers and classifiers too) brought it to 31-47 ms
# but put the first /healthz answer with the bundled models past a second (0.94-1.20 s against
# 0.69-0.80 s), and warming them on a thread after start-up slowed the first generations by as
# much as it saved: not kept.
WARM_UP_GENERATION = {"prompt": "", "seed": 0}
WARM_UP_TOKENS = 2


async def _warm_up(app, state: "ServerState") -> None:
    """Warm up as said above, then zero what the generations counted, so that /v1/stats
    shows the clients' requests only. A failure here is left for a real request to meet."""
    name = state.served.defaults.get("lm")
    if name is None:
        return
    log_texts, state.log_texts = state.log_texts, False
    try:
        body = {**WARM_UP_GENERATION, "model": name, "max_tokens": min(WARM_UP_TOKENS, state.limits.max_tokens)}
        status = await _call(app, "/v1/generate", body, state.token)
        if status != 200:
            log.debug("the warm-up generation was answered %s", status)
        for _ in range(500):  # a generation's loop counts it ended just after its answer is complete
            if not state.generations.active:
                break
            await asyncio.sleep(0.002)
    finally:
        state.log_texts = log_texts
        state.generations.zero_counts()


async def _call(app, path: str, body: dict, token: str | None) -> int | None:
    """POST ``body`` to ``app`` at ``path`` as an ASGI call, the answer read and dropped;
    returns its HTTP status (None if it failed before answering)."""
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0)}
    delivered = asyncio.Event()

    async def receive() -> dict:
        if not delivered.is_set():
            delivered.set()
            return {"type": "http.request", "body": payload, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected until the answer is complete
        return {"type": "http.disconnect"}

    status = None

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    try:
        await asyncio.wait_for(app(scope, receive, send), timeout=30)
    except Exception:  # noqa: BLE001 -- see _warm_up
        log.debug("warm-up request to %s failed", path, exc_info=True)
    return status


def create_app(models: ServedModels | list | tuple = (), *, limits: ServeLimits | None = None,
               token: str | None = None, log_texts: bool = False) -> Starlette:
    """The ASGI application ``rnntool serve`` runs: ``models`` are bundled names, model
    files or ``NAME=FILE`` (none: the bundled models and your latest trained ones), each
    loaded once. Run it with any ASGI server (uvicorn, hypercorn), or test it with
    ``starlette.testclient.TestClient``."""
    served = models if isinstance(models, ServedModels) else ServedModels.load(list(models))
    state = ServerState(served, limits or ServeLimits(), token, log_texts)

    @asynccontextmanager
    async def lifespan(app):
        await _warm_up(app, state)
        yield
        state.close()

    routes = [Route(path, endpoint(page, auth=False), methods=["GET"]) for path in PAGE_FILES]
    routes += [
        Route("/healthz", endpoint(healthz, auth=False), methods=["GET"]),
        Route("/v1/models", endpoint(list_models), methods=["GET"]),
        Route("/v1/stats", endpoint(stats), methods=["GET"]),
        Route("/v1/classify", endpoint(classify), methods=["POST"]),
        Route("/v1/tag", endpoint(tag), methods=["POST"]),
        Route("/v1/score", endpoint(score), methods=["POST"]),
        Route("/v1/generate", endpoint(generate), methods=["POST"]),
        Route("/v1/completions", endpoint(completions), methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error}, lifespan=lifespan)
    app.state.rnntool = state
    return app
