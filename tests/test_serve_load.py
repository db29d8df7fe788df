"""rnntool serve under load (-m load): many concurrent clients through a real HTTP client
(httpx), a mix of good requests, bad ones and streams abandoned half-way; every good one
answered as the library answers it, every bad one a 4xx, no 5xx (but a 503 with Retry-After
for a stream that finds the server's generations all taken), no generation left running, and
the server's memory flat. bench/serve_load.py is the large version."""

import asyncio
import random
import ssl

import pytest

pytestmark = pytest.mark.load

pytest.importorskip("starlette", reason="rnntool serve needs the [serve] extra")
httpx = pytest.importorskip("httpx", reason="the load test's client is httpx")

import rnntool  # noqa: E402
from helpers import Serving, alike  # noqa: E402
from rnntool.serve import ServeLimits, create_app  # noqa: E402

TEXTS = ["WINNER!! You have won a free prize, call now to claim", "are we still on for lunch today?",
         "The old man sailed to the islands.", "She reads books every day. They like it.",
         "URGENT: your account is suspended, text STOP to 8888", "Did you finish the report?"]
BAD = [b"{not json", b"[1]", b'{"txt": "x"}', b'{"text": 5}', b'{"text": "a", "model": "nope"}',
       b'{"text": "a", "model": "en-ewt-upos"}', b'{"text": "a", "top_k": 0}']


def rss_kb() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_thousands_of_mixed_requests_nothing_lost():
    spam, tagger = rnntool.load("sms-spam"), rnntool.load("en-ewt-upos")
    expected_class = {t: spam.classify(t).to_dict() for t in TEXTS}
    expected_tags = {t: tagger.tag(t).to_dict() for t in TEXTS}
    # the streams ask for more tokens than any delay could let finish before their client leaves
    app = create_app(["sms-spam", "en-ewt-upos", "shakespeare-char"], limits=ServeLimits(max_tokens=1_000_000))
    state = app.state.rnntool
    counts = {"good": 0, "wrong": 0, "bad": 0, "bad_not_4xx": 0, "5xx": 0, "abandoned": 0, "busy": 0,
              "busy_without_retry": 0}
    rss = []
    # httpx gives each client its own SSL context (~1 MB of certificates, freed only by the cycle
    # collector): 32 new clients a round would grow this process's memory, not the server's
    tls = ssl.create_default_context()

    async def client(base: str, k: int, total: int) -> None:
        rng = random.Random(k)
        async with httpx.AsyncClient(base_url=base, timeout=60, verify=tls) as http:
            for i in range(total):
                roll, text = rng.random(), rng.choice(TEXTS)
                if roll < 0.4:
                    r = await http.post("/v1/classify", json={"model": "sms-spam", "text": text})
                    ok = r.status_code == 200 and alike(r.json()["result"], expected_class[text])
                elif roll < 0.8:
                    r = await http.post("/v1/tag", json={"text": text})
                    ok = r.status_code == 200 and alike(r.json()["result"], expected_tags[text])
                elif roll < 0.97:
                    r = await http.post("/v1/classify", content=rng.choice(BAD))
                    counts["bad"] += 1
                    counts["bad_not_4xx"] += not 400 <= r.status_code < 500
                    counts["5xx"] += r.status_code >= 500
                    continue
                else:  # a stream whose client goes away after a few pieces
                    async with http.stream("POST", "/v1/generate", json={"prompt": text, "max_tokens": 200_000}) as r:
                        if r.status_code == 503:  # as many generations running as the server allows
                            counts["busy"] += 1
                            counts["busy_without_retry"] += "retry-after" not in r.headers
                            continue
                        seen = 0
                        async for _ in r.aiter_lines():
                            seen += 1
                            if seen == 3:
                                break
                    counts["abandoned"] += 1
                    continue
                counts["good"] += 1
                counts["wrong"] += not ok
                counts["5xx"] += r.status_code >= 500

    async def rounds(base: str) -> None:
        for _ in range(5):
            await asyncio.gather(*(client(base, k, 25) for k in range(32)))
            rss.append(rss_kb())

    with Serving(app) as url:
        asyncio.run(rounds(url))
        for _ in range(1500):  # the abandoned streams leave the batch at its next step
            if state.generations.active == 0:
                break
            asyncio.run(asyncio.sleep(0.02))
        generations = state.generations.to_dict()
    assert counts["good"] + counts["bad"] + counts["abandoned"] + counts["busy"] == 5 * 32 * 25
    assert counts["wrong"] == 0 and counts["bad_not_4xx"] == 0 and counts["5xx"] == 0, counts
    assert counts["busy_without_retry"] == 0, counts  # a busy server says when to come back
    assert counts["abandoned"] > 0 and generations["active"] == 0, generations
    assert generations["started"] == generations["stopped_early"] == counts["abandoned"], (generations, counts)
    batches = state.stats()["batches"]
    assert batches["/v1/classify sms-spam"]["mean_batch_items"] > 1.5  # requests did share model calls
    assert rss[-1] < rss[1] * 1.10, rss  # memory flat once warm (the test's own and the server's)
