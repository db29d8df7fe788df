"""rnntool serve: every endpoint answers what the library answers, every error is a 4xx
JSON with the CLI's message, requests that arrive together share a model call, a client
that goes away stops its generation, and the process starts and stops as a server must."""

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="rnntool serve needs the [serve] extra")
httpx = pytest.importorskip("httpx", reason="the serve tests talk HTTP through httpx")

import rnntool  # noqa: E402
from helpers import Serving, alike, assert_one_line_error, run_rnntool, tiny_ner_tagger  # noqa: E402
from rnntool.serve import ServeLimits, create_app  # noqa: E402

SMS = ["WINNER!! You have won a free prize, call now to claim", "are we still on for lunch today?",
       "Congratulations! claim your cash prize", "ok see you at 6"]
MODELS = ["sms-spam", "en-ewt-upos", "shakespeare-char"]


@pytest.fixture(scope="module")
def ner_path(tmp_path_factory):
    return tiny_ner_tagger(tmp_path_factory.mktemp("ner"))


@pytest.fixture(scope="module")
def server(ner_path):
    app = create_app([*MODELS, f"ner={ner_path}"], limits=ServeLimits(max_tokens=500, max_body=20_000))
    with Serving(app) as url:
        yield url, app.state.rnntool


def post(url, path, body, **kwargs):
    return httpx.post(url + path, json=body, timeout=30, **kwargs)


def test_health_models_and_the_page(server):
    url, _ = server
    assert httpx.get(url + "/healthz").json() == {"status": "ok", "models": [*MODELS, "ner"]}
    models = {m["id"]: m for m in httpx.get(url + "/v1/models").json()["data"]}
    assert {n: (m["kind"], m["default"]) for n, m in models.items()} == {
        "sms-spam": ("classifier", True), "en-ewt-upos": ("tagger", True), "shakespeare-char": ("lm", True),
        "ner": ("tagger", False)}
    assert models["ner"]["scheme"] == "iob2" and models["sms-spam"]["labels"] == rnntool.load("sms-spam").labels
    page = httpx.get(url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/page.js">' in page.text
    assert "fetch(" in httpx.get(url + "/page.js").text and httpx.get(url + "/page.css").status_code == 200


def test_classify_tag_and_score_answer_what_the_library_answers(server, ner_path):
    url, _ = server
    spam = rnntool.load("sms-spam")
    one = post(url, "/v1/classify", {"text": SMS[0]}).json()
    assert one == {"model": "sms-spam", "result": spam.classify(SMS[0]).to_dict()}
    many = post(url, "/v1/classify", {"model": "sms-spam", "texts": SMS, "top_k": 2}).json()
    assert many["results"] == [c.to_dict() for c in spam.classify(SMS, top_k=2)]

    text = "The old man sailed to the islands. He came back."
    tagged = post(url, "/v1/tag", {"text": text}).json()
    assert tagged == {"model": "en-ewt-upos", "result": rnntool.load("en-ewt-upos").tag(text).to_dict()}
    tokens = post(url, "/v1/tag", {"texts": [["New", "York", "is", "big"], "Hi."], "probabilities": False}).json()
    assert [r["sentences"][0]["tokens"] for r in tokens["results"]] == [["New", "York", "is", "big"], ["Hi", "."]]
    assert "confidence" not in tokens["results"][0]["sentences"][0]
    ner_text = "Bob Jones went to New York ."
    spans = post(url, "/v1/tag", {"model": "ner", "text": ner_text}).json()["result"]["sentences"][0]["spans"]
    assert [(s["type"], s["text"], ner_text[s["char_start"]:s["char_end"]]) for s in spans] == [
        ("PER", "Bob Jones", "Bob Jones"), ("LOC", "New York", "New York")]

    lm = rnntool.load("shakespeare-char")
    lines = ["To be, or not to be", "be not or to To be"]
    scored = post(url, "/v1/score", {"texts": lines}).json()
    assert scored["results"] == [s.to_dict() for s in lm.score(lines)]
    assert post(url, "/v1/classify", {"texts": []}).json() == {"model": "sms-spam", "results": []}


def test_generation_streams_pieces_that_make_the_librarys_text(server):
    url, _ = server
    lm = rnntool.load("shakespeare-char")
    expected = lm.generate_text("ROMEO:", max_tokens=40, seed=3)
    with httpx.stream("POST", url + "/v1/generate", json={"prompt": "ROMEO:", "max_tokens": 40, "seed": 3},
                      timeout=30) as response:
        assert response.headers["content-type"].startswith("application/x-ndjson")
        events = [json.loads(line) for line in response.iter_lines() if line]
    pieces = [e["piece"] for e in events[:-1]]
    assert "".join(pieces) == expected and len(pieces) > 1
    assert events[-1]["result"]["text"] == expected and events[-1]["result"]["tokens"] == 40

    sse = httpx.post(url + "/v1/generate", json={"prompt": "ROMEO:", "max_tokens": 40, "seed": 3},
                     headers={"Accept": "text/event-stream"}, timeout=30)
    assert sse.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in sse.text.split("\n\n") if b]
    assert blocks[0].startswith("event: piece\ndata: ") and blocks[-1].startswith("event: result\n")
    assert "".join(json.loads(b.split("data: ", 1)[1])["piece"] for b in blocks[:-1]) == expected

    whole = post(url, "/v1/generate", {"prompt": "ROMEO:", "max_tokens": 40, "seed": 3, "stream": False,
                                       "stop": "\n\n", "logprobs": True}).json()
    same = next(lm.generate_many(["ROMEO:"], max_tokens=40, seed=3, stop="\n\n", logprobs=True))
    assert whole["result"] == same.to_dict()


def test_concurrent_generations_share_steps_and_keep_their_own_seeds(server):
    url, state = server
    lm = rnntool.load("shakespeare-char")
    prompts = ["ROMEO:", "JULIET:", "KING:", "A", "", "First Citizen:", "To be", "O"]
    before = dict(steps=state.generations.steps, rows=state.generations.rows_stepped)

    async def send_all():
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            return await asyncio.gather(*(client.post("/v1/generate", json={
                "prompt": p, "max_tokens": 300, "seed": i, "stream": False, "temperature": 0.9})
                for i, p in enumerate(prompts)))

    answers = [a.json()["result"]["text"] for a in asyncio.run(send_all())]
    # each as the library generates it alone with its seed, though they were stepped together
    assert answers == [lm.generate_text(p, max_tokens=300, seed=i, temperature=0.9) for i, p in enumerate(prompts)]
    steps = state.generations.steps - before["steps"]
    rows = state.generations.rows_stepped - before["rows"]
    assert rows / steps > 1.5, (rows, steps)  # steps advanced several generations at once


def test_start_up_warms_the_default_language_model_and_counts_nothing(monkeypatch):
    """One generation through the whole application (the token too) before the first connection;
    /v1/stats then shows no generation and no batch."""
    import rnntool.serve.app as serve_app

    answered = []
    call = serve_app._call

    async def spy(app, path, body, token):
        status = await call(app, path, body, token)
        answered.append((path, body["model"], token, status))
        return status

    monkeypatch.setattr(serve_app, "_call", spy)
    app = create_app(["sms-spam", "shakespeare-char"], token="s3cret")
    with Serving(app) as url:
        stats = httpx.get(url + "/v1/stats", headers={"Authorization": "Bearer s3cret"}).json()
    assert answered == [("/v1/generate", "shakespeare-char", "s3cret", 200)]
    assert stats["generations"]["started"] == 0 and stats["generations"]["tokens"] == 0
    assert stats["generations"]["pieces"] == 0 and stats["batches"] == {}
    without_lm = []
    monkeypatch.setattr(serve_app, "_call", lambda *a: without_lm.append(a))
    with Serving(create_app(["sms-spam"])):
        pass
    assert without_lm == []  # nothing to warm: no language model


def test_a_generation_of_no_tokens_and_one_of_a_single_token(server):
    url, _ = server
    lm = rnntool.load("shakespeare-char")
    none = post(url, "/v1/generate", {"prompt": "ROMEO:", "max_tokens": 0, "stream": False}).json()["result"]
    assert none["text"] == "" and none["tokens"] == 0 and none["stop_reason"] == "max_tokens"
    one = post(url, "/v1/generate", {"prompt": "ROMEO:", "max_tokens": 1, "seed": 4, "stream": False}).json()["result"]
    assert one["tokens"] == 1 and one["text"] == lm.generate_text("ROMEO:", max_tokens=1, seed=4)


def test_openai_completions_wire_format(server):
    url, _ = server
    lm = rnntool.load("shakespeare-char")
    answer = post(url, "/v1/completions", {"model": "shakespeare-char", "prompt": "JULIET:", "max_tokens": 12,
                                           "seed": 5, "user": "someone", "presence_penalty": 0}).json()
    assert answer["object"] == "text_completion" and answer["id"].startswith("cmpl-")
    [choice] = answer["choices"]
    # OpenAI's defaults when unsaid: temperature 1, top_p 1
    assert choice["text"] == lm.generate_text("JULIET:", max_tokens=12, seed=5, temperature=1.0, top_p=1.0)
    assert choice["finish_reason"] == "length" and choice["index"] == 0
    assert answer["usage"] == {"prompt_tokens": 7, "completion_tokens": 12, "total_tokens": 19}
    two = post(url, "/v1/completions", {"prompt": ["A", "B"], "n": 2, "max_tokens": 5, "stop": ["\n"]}).json()
    assert [c["index"] for c in two["choices"]] == [0, 1, 2, 3]

    chunks = []
    with httpx.stream("POST", url + "/v1/completions", json={"prompt": "JULIET:", "max_tokens": 12, "seed": 5,
                                                              "stream": True,
                                                              "stream_options": {"include_usage": True}}) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                chunks.append(line[6:])
    assert chunks[-1] == "[DONE]"
    records = [json.loads(c) for c in chunks[:-1]]
    assert "".join(c["choices"][0]["text"] for c in records if c["choices"]) == choice["text"]
    assert records[-2]["choices"][0]["finish_reason"] == "length" and records[-1]["usage"]["completion_tokens"] == 12


@pytest.mark.parametrize("path, body, status, fragment", [
    ("/v1/classify", b"{not json", 400, "not valid JSON"),
    ("/v1/classify", b"[1, 2]", 400, "must be a JSON object"),
    ("/v1/classify", b"", 400, "no body"),
    ("/v1/classify", {"txt": "hello"}, 400, '"text" (one) or "texts"'),
    ("/v1/classify", {"text": "a", "texts": ["b"]}, 400, "not both"),
    ("/v1/classify", {"text": "a", "colour": "red"}, 400, "does not take 'colour'"),
    ("/v1/classify", {"text": 5}, 400, "'text' must be a string, not a number"),
    ("/v1/classify", {"texts": ["a", None]}, 400, "'texts[1]' must be a string"),
    ("/v1/classify", {"text": "a", "top_k": 0}, 400, "top_k must be at least 1"),
    ("/v1/classify", {"text": "a", "model": "nope"}, 404, "no model named 'nope'"),
    ("/v1/classify", {"text": "a", "model": "en-ewt-upos"}, 400, "en-ewt-upos is a tagger; /v1/classify takes a classifier"),
    ("/v1/tag", {"texts": [["New", 3]]}, 400, "array of token strings"),
    ("/v1/tag", {"texts": [["New", ""]]}, 400, "token 2 of ['New', ''] is empty"),
    ("/v1/generate", {"prompt": "A", "temperature": -1}, 400, "0 or more (0 means greedy), not -1"),
    ("/v1/generate", {"prompt": "A", "top_p": 2}, 400, "top_p must be above 0 and at most 1 (1: no limit), not 2"),
    ("/v1/generate", {"prompt": "A", "top_k": -1}, 400, "top_k must be 0 or more (0: no limit), not -1"),
    ("/v1/generate", {"prompt": "A", "stop": [""]}, 400, "a stop string must not be empty"),
    ("/v1/generate", {"prompt": "A", "max_tokens": 501}, 400, "max_tokens is at most 500"),
    ("/v1/generate", {"prompt": "A", "stream": "yes"}, 400, "'stream' must be true or false"),
    ("/v1/generate", {"prompt": "A", "model": "sms-spam"}, 400, "sms-spam is a classifier"),
    ("/v1/completions", {"prompt": "A", "echo": True}, 400, "'echo' is not supported"),
    ("/v1/completions", {"prompt": []}, 400, "non-empty array"),
    ("/v1/completions", {"prompt": ["A"] * 17}, 400, "at most 16 prompts per request"),
    ("/v1/completions", {"prompt": "A", "n": 17}, 400, "n must be between 1 and 16"),
    ("/v1/score", {"text": "a" * 30_000}, 413, "larger than the server's limit of 20,000 bytes"),
    ("/v1/nothing", {}, 404, "no such endpoint"),
])
def test_each_bad_request_is_a_4xx_json_error_with_a_message(server, path, body, status, fragment):
    url, _ = server
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = httpx.post(url + path, timeout=30, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert fragment in error["message"] and error["code"] == status and error["type"]
    assert "\n" not in error["message"]


def test_serve_limits_name_their_fields_as_the_library_spells_them():
    for options, message in [({"max_tokens": 0}, "max_tokens must be at least 1, not 0"),
                             ({"timeout": float("nan")}, "timeout must be above 0 seconds, not nan"),
                             ({"batch_wait": 2}, "batch_wait must be between 0 and 1 second, not 2")]:
        with pytest.raises(rnntool.OutOfRangeError, match=re.escape(message)):
            ServeLimits(**options)


def test_out_of_range_messages_are_the_librarys(server):
    url, _ = server
    with pytest.raises(rnntool.OutOfRangeError) as raised:
        rnntool.load("shakespeare-char").generate("A", temperature=-1)
    answer = post(url, "/v1/generate", {"prompt": "A", "temperature": -1}).json()
    assert answer["error"]["message"] == str(raised.value)
    assert httpx.get(url + "/v1/classify").status_code == 405


def test_requests_sent_together_share_model_calls(server):
    url, state = server
    spam = rnntool.load("sms-spam")
    texts = [f"{SMS[i % 4]} {i}" for i in range(32)]

    async def send_all():
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            return await asyncio.gather(*(client.post("/v1/classify", json={"model": "sms-spam", "text": t})
                                          for t in texts))

    before = state.batchers.get(("sms-spam", "/v1/classify", ("threshold", None), ("top_k", 1)))
    calls_before = before.stats.calls if before else 0
    answers = asyncio.run(send_all())
    assert alike([a.json()["result"] for a in answers], [c.to_dict() for c in spam.classify(texts)])
    batcher = state.batchers[("sms-spam", "/v1/classify", ("threshold", None), ("top_k", 1))]
    calls = batcher.stats.calls - calls_before
    assert 1 <= calls <= 8, calls  # 32 requests, a few model calls (a loaded machine spreads them a little)
    stats = httpx.get(url + "/v1/stats").json()
    assert stats["batches"]["/v1/classify sms-spam"]["requests"] >= 32


def test_one_bad_text_in_a_batch_fails_only_its_own_request():
    import rnntool.serve.batching as batching
    from concurrent.futures import ThreadPoolExecutor

    def run(items):
        if "bad" in items:
            raise rnntool.InputError("a bad text")
        return [item.upper() for item in items]

    async def main():
        batcher = batching.MicroBatcher(run, ThreadPoolExecutor(1), max_wait=0.01, max_items=100)
        return await asyncio.gather(batcher.submit(["a"]), batcher.submit(["bad"]), batcher.submit(["b", "c"]),
                                    return_exceptions=True), batcher.stats

    (a, bad, bc), stats = asyncio.run(main())
    assert a == ["A"] and bc == ["B", "C"] and isinstance(bad, rnntool.InputError)
    assert stats.calls == 2 and stats.items == 3  # the good two answered on their own, the failed batch not counted


def test_a_client_that_goes_away_stops_its_generation(tmp_path):
    app = create_app(["shakespeare-char"], limits=ServeLimits(max_tokens=1_000_000, timeout=300))
    state = app.state.rnntool
    with Serving(app) as url:
        with httpx.stream("POST", url + "/v1/generate", json={"prompt": "A", "max_tokens": 1_000_000},
                          timeout=30) as response:
            for i, _ in enumerate(response.iter_lines()):
                if i == 20:
                    break  # leaving the block closes the connection mid-stream
        deadline = time.monotonic() + 10
        while state.generations.active and time.monotonic() < deadline:
            time.sleep(0.02)
        done = state.generations.to_dict()
    assert done["active"] == 0 and done["stopped_early"] == 1
    assert done["tokens"] == 0 and 20 <= done["pieces"] < 200_000  # stopped long before its million tokens


def test_past_the_generation_cap_503_with_retry_after_and_timeouts_504():
    app = create_app(["shakespeare-char"], limits=ServeLimits(max_tokens=1_000_000, max_generations=1, timeout=3.0))
    state = app.state.rnntool
    with Serving(app) as url:
        with httpx.stream("POST", url + "/v1/generate", json={"prompt": "A", "max_tokens": 1_000_000},
                          timeout=30) as running:
            lines = running.iter_lines()  # kept: a dropped iterator closes the connection
            assert "piece" in next(lines)
            busy = post(url, "/v1/generate", {"prompt": "B", "max_tokens": 5})
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert "running 1 of its 1 generations" in busy.json()["error"]["message"]
            last = list(lines)[-1]  # the stream ends with the timeout's error
        assert "timeout of 3 s" in json.loads(last)["error"]["message"]
        deadline = time.monotonic() + 30  # the timed-out generation leaves its place a moment later
        while state.generations.active and time.monotonic() < deadline:
            time.sleep(0.02)
        slow = post(url, "/v1/generate", {"prompt": "A", "max_tokens": 1_000_000, "stream": False})
        assert slow.status_code == 504 and "timeout" in slow.json()["error"]["message"]


def test_a_token_guards_the_api_but_not_health_or_the_page():
    app = create_app(["sms-spam"], token="s3cret")
    with Serving(app) as url:
        assert post(url, "/v1/classify", {"text": "hi"}).status_code == 401
        wrong = post(url, "/v1/classify", {"text": "hi"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in wrong.json()["error"]["message"]
        ok = post(url, "/v1/classify", {"text": "hi"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["model"] == "sms-spam"
        assert httpx.get(url + "/healthz").status_code == 200 and httpx.get(url + "/").status_code == 200


def test_serving_never_imports_torch():
    code = ("import json, sys, urllib.request\n"
            "sys.path.insert(0, 'tests')\n"
            "from helpers import Serving\n"
            "from rnntool.serve import create_app\n"
            "def post(url, body):\n"
            "    request = urllib.request.Request(url, json.dumps(body).encode(), {'Content-Type': 'application/json'})\n"
            "    return urllib.request.urlopen(request).status\n"
            "with Serving(create_app(['sms-spam', 'en-ewt-upos', 'shakespeare-char'])) as url:\n"
            "    assert post(url + '/v1/classify', {'text': 'free prize'}) == 200\n"
            "    assert post(url + '/v1/tag', {'text': 'The cat sat.'}) == 200\n"
            "    assert post(url + '/v1/completions', {'prompt': 'A'}) == 200\n"
            "print([m for m in ('torch', 'typer', 'rich') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- the command -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_refuses_other_hosts_without_a_token_and_a_port_in_use():
    assert_one_line_error(run_rnntool("serve", "sms-spam", "--host", "0.0.0.0", text=True), "--token")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert_one_line_error(run_rnntool("serve", "sms-spam", "--port", port, text=True), f"port {port}")
    assert_one_line_error(run_rnntool("serve", "no-such-model.safetensors", text=True), "no-such-model")


def test_serve_without_the_extra_names_it():
    code = ("import sys\nsys.modules['uvicorn'] = None\nsys.argv = ['rnntool', 'serve']\n"
            "from rnntool.cli import main\nmain()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    out.exit_code = out.returncode
    assert_one_line_error(out, 'pip install "rnntool[serve]"')


def test_serve_answers_then_sigterm_finishes_the_stream_in_flight_and_exits_0():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "rnntool", "serve", "sms-spam", "shakespeare-char",
                                "--port", str(port)], stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stderr.read()) from None
                time.sleep(0.05)
        lines: list[str] = []
        under_way = threading.Event()

        def stream():
            with httpx.stream("POST", url + "/v1/generate", json={"prompt": "A", "max_tokens": 3000},
                              timeout=60) as response:
                for line in response.iter_lines():
                    lines.append(line)
                    under_way.set()

        reader = threading.Thread(target=stream)
        reader.start()
        assert under_way.wait(timeout=60), "the stream never started"
        process.send_signal(signal.SIGTERM)
        reader.join(timeout=60)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    stderr = process.stderr.read()
    assert json.loads(lines[-1])["result"]["tokens"] == 3000  # the request in flight was finished
    assert f"on {url}" in stderr and '"POST /v1/generate HTTP/1.1" 200' in stderr
    assert "Bearer" not in stderr and '"prompt"' not in stderr  # access log: never the texts


def test_workers_are_processes_on_one_port_and_stop_together():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "rnntool", "serve", "sms-spam", "--port", str(port),
                                "--workers", "2", "-q"], stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        pids = set()
        while len(pids) < 2 and time.monotonic() < deadline:
            try:
                with httpx.Client(base_url=url, timeout=10) as client:  # a new connection each time
                    pids.add(client.get("/v1/stats").json()["pid"])
                    assert client.post("/v1/classify", json={"text": "free prize"}).json()["model"] == "sms-spam"
            except httpx.TransportError:
                if process.poll() is not None:
                    raise AssertionError(process.stderr.read()) from None
                time.sleep(0.05)
        assert len(pids) == 2 and process.pid not in pids  # two worker processes answer, the parent supervises
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
