#!/usr/bin/env python
"""rnntool serve under load, on this machine, against localhost, with the CLI beside it.

    python bench/serve_load.py [--requests 100000] [--seconds 10] [--workers 1] [--quick]

One `rnntool serve sms-spam en-ewt-upos shakespeare-char -q` process; the load comes from
this process (an asyncio keep-alive HTTP/1.1 client written for the purpose: httpx's own
cost per request would take most of the two cores); its CPU time is reported beside the
server's. Sections:

1. throughput: 64 concurrent clients, one line per request, classify (sms-spam, SMS test
   texts) and tag (en-ewt-upos, EWT test sentences), for --seconds each; against one CLI
   process per line and `rnntool classify FILE` / `rnntool tag FILE` on the same lines;
   the server's mean batch size from /v1/stats;
2. latency of a single-line classify at 1, 8 and 64 concurrent clients (p50, p99);
3. time to the first streamed piece of /v1/generate at 8 concurrent generations;
4. nothing lost: --requests requests from 64 clients, a mix of valid classify and tag
   requests (each answer compared with the library's), invalid bodies (each must be a
   4xx) and generations whose client disconnects after a few pieces; zero 5xx; the
   server's RSS after the first 10% and at the end.

Data: ../shared/data's SMS and EWT test splits when present, else built-in sentences.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from helpers import alike  # noqa: E402  (answers equal, probabilities to their last digits)

DATA = ROOT.parent / "shared" / "data"
SERVED = ["sms-spam", "en-ewt-upos", "shakespeare-char"]
FALLBACK = ["WINNER!! You have won a free prize, call now to claim", "are we still on for lunch today?",
            "The old man sailed to the islands.", "She reads books every day."]


# --- data ------------------------------------------------------------------------------------

def sms_texts() -> list[str]:
    path = DATA / "sms-spam" / "splits" / "test.tsv"
    if not path.exists():
        return FALLBACK * 250
    return [line.rstrip("\n").split("\t", 1)[1] for line in path.open(encoding="utf-8") if "\t" in line]


def ewt_sentences() -> list[str]:
    path = DATA / "ud-en-ewt" / "en_ewt-ud-test.conllu"
    if not path.exists():
        return FALLBACK * 250
    return [line[len("# text = "):].strip() for line in path.open(encoding="utf-8") if line.startswith("# text = ")]


# --- a lean HTTP/1.1 keep-alive client ----------------------------------------------------------

class Connection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        self.writer.write(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d"
                          b"\r\n\r\n%s" % (path.encode(), self.host.encode(), len(body), body))
        status, headers = await self._head()
        if headers.get(b"transfer-encoding") == b"chunked":
            data = b"".join([chunk async for chunk in self._chunks()])
        else:
            data = await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection") == b"close":
            self.close()
        return status, data

    async def stream(self, path: str, body: bytes):
        """(status, an async iterator of the body's chunks) for a chunked answer."""
        if self.writer is None:
            await self.open()
        self.writer.write(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d"
                          b"\r\n\r\n%s" % (path.encode(), self.host.encode(), len(body), body))
        status, headers = await self._head()
        return status, self._chunks()

    async def _head(self) -> tuple[int, dict]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if b":" in line:
                k, v = line.split(b":", 1)
                headers[k.strip().lower()] = v.strip()
        return status, headers

    async def _chunks(self):
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return
            chunk = await self.reader.readexactly(size + 2)
            yield chunk[:-2]


# --- the server ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers: int) -> tuple[subprocess.Popen, int, float]:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "rnntool", "serve", *SERVED, "--port", str(port), "-q",
                                "--workers", str(workers)], stderr=subprocess.PIPE)
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if b" 200 " in s.recv(1000):
                    break
        except OSError:
            if process.poll() is not None:
                raise SystemExit(process.stderr.read().decode())
            time.sleep(0.02)
    return process, port, time.perf_counter() - started


def process_tree(pid: int) -> list[int]:
    """A process and its children (the worker processes of --workers)."""
    try:
        return [pid, *(int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    except OSError:
        return [pid]


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children."""
    total = 0.0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def rss_mb(pid: int) -> float:
    total = 0
    for p in process_tree(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def get_json(port: int, path: str) -> dict:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- 1. throughput ---------------------------------------------------------------------------

async def throughput(port: int, path: str, model: str, texts: list[str], clients: int, seconds: float) -> dict:
    bodies = [json.dumps({"model": model, "text": t}).encode() for t in texts]
    done = 0
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client(k: int) -> None:
        nonlocal done, errors
        connection = Connection("127.0.0.1", port)
        i = k
        while time.perf_counter() < stop_at:
            status, _ = await connection.post(path, bodies[i % len(bodies)])
            done += 1
            errors += status != 200
            i += clients
        connection.close()

    started, cpu = time.perf_counter(), client_cpu()
    await asyncio.gather(*(client(k) for k in range(clients)))
    wall = time.perf_counter() - started
    return {"requests": done, "errors": errors, "wall": wall, "rps": done / wall,
            "client_cpu": (client_cpu() - cpu) / wall}


def cli_per_line(command: str, model: str, texts: list[str], n: int) -> float:
    started = time.perf_counter()
    for text in texts[:n]:
        subprocess.run([sys.executable, "-m", "rnntool", command, "-m", model, "-"], input=text + "\n",
                       capture_output=True, text=True, check=True)
    return n / (time.perf_counter() - started)


def cli_file(command: str, model: str, texts: list[str], work: Path) -> float:
    path = work / f"{command}.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rnntool", command, "-m", model, str(path), "-q"],
                   stdout=subprocess.DEVNULL, check=True)
    return len(texts) / (time.perf_counter() - started)


# --- 2./3. latency -----------------------------------------------------------------------------

async def latency(port: int, texts: list[str], clients: int, per_client: int) -> tuple[float, float]:
    times: list[float] = []

    async def client(k: int) -> None:
        connection = Connection("127.0.0.1", port)
        for i in range(per_client):
            body = json.dumps({"model": "sms-spam", "text": texts[(k + i * clients) % len(texts)]}).encode()
            started = time.perf_counter()
            status, _ = await connection.post("/v1/classify", body)
            times.append(time.perf_counter() - started)
        connection.close()

    await asyncio.gather(*(client(k) for k in range(clients)))
    return percentile(times, 50), percentile(times, 99)


async def first_pieces(port: int, clients: int, rounds: int) -> tuple[float, float]:
    times: list[float] = []

    async def client(k: int) -> None:
        for r in range(rounds):
            connection = Connection("127.0.0.1", port)
            body = json.dumps({"model": "shakespeare-char", "prompt": "ROMEO:", "max_tokens": 200,
                               "seed": k * 1000 + r}).encode()
            started = time.perf_counter()
            status, chunks = await connection.stream("/v1/generate", body)
            async for chunk in chunks:
                if b'"piece"' in chunk:
                    times.append(time.perf_counter() - started)
                    break
            async for _ in chunks:  # the rest of the 200 tokens
                pass
            connection.close()

    await asyncio.gather(*(client(k) for k in range(clients)))
    return percentile(times, 50), percentile(times, 99)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# --- 4. nothing lost -----------------------------------------------------------------------------

INVALID = [b"{not json", b"[1, 2]", b'{"txt": "x"}', b'{"text": 5}', b'{"text": "a", "model": "nope"}',
           b'{"text": "a", "model": "en-ewt-upos"}', b'{"text": "a", "top_k": 0}']


async def mixed(port: int, total: int, clients: int, sms: list[str], ewt: list[str], on_progress) -> dict:
    import rnntool

    spam, tagger = rnntool.load("sms-spam"), rnntool.load("en-ewt-upos")
    sms, ewt = sms[:300], ewt[:300]
    expect_classify = {t: spam.classify(t).to_dict() for t in sms}
    expect_tag = {t: tagger.tag(t).to_dict() for t in ewt}
    counts = {"valid": 0, "valid_wrong": 0, "invalid": 0, "invalid_not_4xx": 0, "disconnects": 0, "5xx": 0}
    issued = 0
    rng = random.Random(1)

    async def client(k: int) -> None:
        nonlocal issued
        connection = Connection("127.0.0.1", port)
        while issued < total:
            issued += 1
            if issued % max(1, total // 10) == 0:
                on_progress(issued)
            roll = rng.random()
            if roll < 0.45:
                text = rng.choice(sms)
                status, data = await connection.post("/v1/classify", json.dumps({"model": "sms-spam",
                                                                                   "text": text}).encode())
                ok = status == 200 and alike(json.loads(data)["result"], expect_classify[text])
            elif roll < 0.85:
                text = rng.choice(ewt)
                status, data = await connection.post("/v1/tag", json.dumps({"model": "en-ewt-upos",
                                                                              "text": text}).encode())
                ok = status == 200 and alike(json.loads(data)["result"], expect_tag[text])
            elif roll < 0.99:
                status, data = await connection.post("/v1/classify", rng.choice(INVALID))
                counts["invalid"] += 1
                counts["invalid_not_4xx"] += not 400 <= status < 500
                counts["5xx"] += status >= 500
                continue
            else:  # a generation whose client goes away after a few pieces
                streamer = Connection("127.0.0.1", port)
                status, chunks = await streamer.stream("/v1/generate", b'{"prompt": "A", "max_tokens": 4000}')
                seen = 0
                async for _ in chunks:
                    seen += 1
                    if seen == 3:
                        break
                streamer.close()
                counts["disconnects"] += 1
                counts["5xx"] += status >= 500
                continue
            counts["valid"] += 1
            counts["valid_wrong"] += not ok
            if not ok and counts["valid_wrong"] <= 3:
                print(f"    wrong answer ({status}): {data[:300]!r}", file=sys.stderr)
            counts["5xx"] += status >= 500
        connection.close()

    await asyncio.gather(*(client(k) for k in range(clients)))
    return counts


# --- the report ---------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="small numbers: check the script runs")
    parser.add_argument("--first-pieces", type=int, default=0, metavar="N",
                        help="only measure the first streamed piece at 8 concurrent generations, N times")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.seconds = 2000, 2.0
    sms, ewt = sms_texts(), ewt_sentences()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()},"
          f" {time.strftime('%Y-%m-%d %H:%M')}; server --workers {args.workers}")
    process, port, ready = start_server(args.workers)
    print(f"server answered /healthz {ready:.2f} s after it was started ({', '.join(SERVED)})")
    if args.first_pieces:
        for _ in range(args.first_pieces):
            p50, p99 = asyncio.run(first_pieces(port, 8, 25))
            print(f"generate, 8 concurrent (shakespeare-char): first piece p50 {p50 * 1000:.1f} ms, "
                  f"p99 {p99 * 1000:.1f} ms")
        process.terminate()
        process.wait(timeout=60)
        return
    try:
        for path, model, texts, command in (("/v1/classify", "sms-spam", sms, "classify"),
                                            ("/v1/tag", "en-ewt-upos", ewt, "tag")):
            stats_before = get_json(port, "/v1/stats")["batches"].get(f"{path} {model}", {"calls": 0, "items": 0})
            cpu = process_tree_cpu(process.pid)
            result = asyncio.run(throughput(port, path, model, texts, 64, args.seconds))
            server_cpu = (process_tree_cpu(process.pid) - cpu) / result["wall"]
            stats = get_json(port, "/v1/stats")["batches"][f"{path} {model}"]
            calls, items = stats["calls"] - stats_before["calls"], stats["items"] - stats_before["items"]
            per_line = cli_per_line(command, model, texts, 5 if args.quick else 20)
            with tempfile.TemporaryDirectory() as tmp:
                whole_file = cli_file(command, model, texts, Path(tmp))
            print(f"{command}: {result['rps']:,.0f} requests/s (64 clients, one line each, {result['requests']:,} in "
                  f"{result['wall']:.1f} s, {result['errors']} errors); mean batch {items / max(calls, 1):.1f} lines; "
                  f"CPU: server {server_cpu:.2f} cores, client {result['client_cpu']:.2f} cores")
            print(f"    one CLI process per line: {per_line:.2f} lines/s -> server {result['rps'] / per_line:,.0f}x; "
                  f"rnntool {command} FILE ({len(texts):,} lines): {whole_file:,.0f} lines/s -> server "
                  f"{result['rps'] / whole_file:.2f}x")
        for clients in (1, 8, 64):
            p50, p99 = asyncio.run(latency(port, sms, clients, max(20, 2000 // clients) if not args.quick else 20))
            print(f"classify latency, {clients:>2} concurrent clients: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
        p50, p99 = asyncio.run(first_pieces(port, 8, 3 if args.quick else 25))
        print(f"generate, 8 concurrent (shakespeare-char): first piece p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")

        rss = {}

        def progress(n: int) -> None:
            if n in (args.requests // 10, args.requests) or n == max(1, args.requests // 10):
                rss.setdefault(n, rss_mb(process.pid))

        started = time.perf_counter()
        counts = asyncio.run(mixed(port, args.requests, 64, sms, ewt, progress))
        wall = time.perf_counter() - started
        rss["end"] = rss_mb(process.pid)
        first = rss.get(args.requests // 10, rss["end"])
        print(f"mixed load: {args.requests:,} requests in {wall:.0f} s ({args.requests / wall:,.0f}/s): {counts}")
        print(f"    server RSS after {args.requests // 10:,}: {first:.1f} MB, at the end: {rss['end']:.1f} MB "
              f"({(rss['end'] / first - 1) * 100:+.1f}%)")
        generations = get_json(port, "/v1/stats")["generations"]
        print(f"    generations: {generations}")
    finally:
        process.terminate()
        code = process.wait(timeout=60)
        print(f"server exit code after SIGTERM: {code}")


if __name__ == "__main__":
    main()
