"""Peak resident memory of one command, split into heap (RssAnon) and file-backed pages
(RssFile: memory-mapped corpora and id files, shared libraries), sampled from
/proc/PID/status every 0.2 s (Linux). ru_maxrss (bench/memory.py) counts both together.

    python bench/rss_peaks.py [--seconds S] python -m rnntool prep big.txt --level char -o big.corpus -q

With --seconds, the command is stopped (SIGINT) after S seconds, for commands that
would run for hours on a big input (tag on 1 GB): the report then says how much of
the input had been read (/proc/PID/io rchar) and the RSS at each quarter of the run,
so that a flat line shows memory does not grow with the input read so far.
"""

import signal
import subprocess
import sys
import time


def status(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("RssAnon", "RssFile", "VmRSS"):
                out[key] = int(line.split()[1])
    return out


def bytes_read(pid: int) -> int:
    with open(f"/proc/{pid}/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar:"))


def main() -> None:
    args = sys.argv[1:]
    seconds = None
    if args[:1] == ["--seconds"]:
        seconds, args = float(args[1]), args[2:]
    if not args:
        sys.exit(__doc__)
    start = time.monotonic()
    # a script started in the background (nohup ... &) ignores SIGINT, and so would the child:
    # give it the default back, so that --seconds can stop it as Ctrl-C would
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    peak = {"RssAnon": 0, "RssFile": 0, "VmRSS": 0}
    timeline = []  # (seconds, MB read, VmRSS MB)
    read = 0
    while proc.poll() is None:
        try:
            now = status(proc.pid)
            read = bytes_read(proc.pid)
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            break
        for key, value in now.items():
            peak[key] = max(peak[key], value)
        elapsed = time.monotonic() - start
        timeline.append((elapsed, read / 1e6, now.get("VmRSS", 0) / 1024))
        if seconds is not None and elapsed > seconds:
            proc.send_signal(signal.SIGINT)
            proc.wait()
            break
        time.sleep(0.2)
    error = proc.stderr.read().decode()[-300:]
    shown = ", ".join(f"{k} {v / 1024:.0f} MB" for k, v in peak.items())
    stopped = seconds is not None and proc.returncode == 130
    print(f"{' '.join(args)}: {shown}; "
          f"{f'stopped after {seconds:.0f} s' if stopped else f'exit {proc.returncode}'}"
          f"{' ' + error if proc.returncode and not stopped else ''}")
    if seconds is not None and timeline:
        quarters = [timeline[min(len(timeline) - 1, round(q * (len(timeline) - 1)))] for q in (0.25, 0.5, 0.75, 1.0)]
        print("  " + "; ".join(f"{t:.0f} s: {mb:,.0f} MB read, RSS {rss:.0f} MB" for t, mb, rss in quarters))


if __name__ == "__main__":
    main()
