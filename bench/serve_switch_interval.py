#!/usr/bin/env python
"""Does the interpreter's thread switch interval move `rnntool serve`'s latency? (issue #26)

The generation loop and the event loop are two threads of one process; a thread waiting for
the GIL waits up to `sys.getswitchinterval()` (5 ms by default) while the other runs Python.
This starts the bundled-model server once per interval and round, alternated, and measures the
first streamed piece at 8 concurrent generations right after start-up (cold) and again (warm),
then 64-client single-line classify throughput.

    python bench/serve_switch_interval.py [ROUNDS] [INTERVAL ...]     # default: 5 rounds, 0.005 0.0005
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve_load  # noqa: E402


def start(interval: float) -> tuple[subprocess.Popen, int, float]:
    port = serve_load.free_port()
    started = time.perf_counter()  # as serve_load.start_server: from before the process starts
    code = (f"import sys; sys.setswitchinterval({interval!r}); "
            f"sys.argv = ['rnntool', 'serve', *{serve_load.SERVED!r}, '--port', '{port}', '-q']; "
            "from rnntool.cli import main; main()")
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if b" 200 " in s.recv(1000):
                    return process, port, time.perf_counter() - started
        except OSError:
            if process.poll() is not None:
                raise SystemExit(process.stderr.read().decode())
            time.sleep(0.02)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    intervals = [float(a) for a in sys.argv[2:]] or [0.005, 0.0005]
    sms = serve_load.sms_texts()
    results = {i: {"cold": [], "warm": [], "rps": [], "ready": []} for i in intervals}
    for r in range(rounds):
        for interval in intervals if r % 2 == 0 else intervals[::-1]:  # neither always goes first
            process, port, ready = start(interval)
            try:
                cold = asyncio.run(serve_load.first_pieces(port, 8, 25))[1] * 1000
                warm = asyncio.run(serve_load.first_pieces(port, 8, 25))[1] * 1000
                rps = asyncio.run(serve_load.throughput(port, "/v1/classify", "sms-spam", sms, 64, 4.0))["rps"]
            finally:  # never leave a server running on the benchmark machine
                process.terminate()
                process.wait(timeout=60)
                process.stderr.close()
            for key, value in (("cold", cold), ("warm", warm), ("rps", rps), ("ready", ready)):
                results[interval][key].append(value)
            print(f"round {r} interval {interval}: /healthz {ready:.2f} s, first piece p99 cold {cold:.1f} ms, "
                  f"warm {warm:.1f} ms, classify {rps:,.0f} requests/s", flush=True)
    for interval, d in results.items():
        print(f"interval {interval}: first piece p99 cold median {statistics.median(d['cold']):.1f} ms (max "
              f"{max(d['cold']):.1f}, {sum(c <= 50 for c in d['cold'])}/{len(d['cold'])} within 50 ms), warm median "
              f"{statistics.median(d['warm']):.1f} ms; classify median {statistics.median(d['rps']):,.0f} requests/s")


if __name__ == "__main__":
    main()
