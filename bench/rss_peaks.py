"""Peak resident memory of one command, split into heap (RssAnon) and file-backed pages
(RssFile: memory-mapped corpora and id files, shared libraries), sampled from
/proc/PID/status every 0.2 s (Linux). ru_maxrss (bench/memory.py) counts both together.

    python bench/rss_peaks.py python -m rnntool prep big.txt --level char -o big.corpus -q
"""

import subprocess
import sys
import time


def main() -> None:
    command = sys.argv[1:]
    if not command:
        sys.exit(__doc__)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = {"RssAnon": 0, "RssFile": 0, "VmRSS": 0}
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as status:
                for line in status:
                    key = line.split(":")[0]
                    if key in peak:
                        peak[key] = max(peak[key], int(line.split()[1]))
        except FileNotFoundError:
            break
        time.sleep(0.2)
    error = proc.stderr.read().decode()[-300:]
    shown = ", ".join(f"{k} {v / 1024:.0f} MB" for k, v in peak.items())
    print(f"{' '.join(command)}: {shown}; exit {proc.returncode}{' ' + error if proc.returncode else ''}")


if __name__ == "__main__":
    main()
