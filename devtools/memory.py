"""Peak memory of a piece of work, measured in a fresh Python process: shared by the tests and the
benchmarks. `PEAK_PRELUDE` starts such a child script: it defines status_mb(field) (a /proc/self/status
field in MB) and reset_peak() (sets the peak, VmHWM, back to the RSS now; Linux >= 4.0), since a
child's ru_maxrss starts at its parent's peak. `tree_mb` sums what a process tree holds now."""

import re
from pathlib import Path

from devtools.browser import descendants

PEAK_PRELUDE = r"""
import re


def status_mb(field):
    with open("/proc/self/status") as f:
        return int(re.search(field + r":\s+(\d+) kB", f.read()).group(1)) / 1024


def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
"""


def tree_mb(pid: int) -> dict:
    """Memory of a process and its descendants now (MB): RSS summed (a page shared by n processes counts
    n times), PSS (shared pages split between their users) and private (pages no other process maps)."""
    rss = pss = private = 0
    n = 0
    for p in [pid, *descendants(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        rss += int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
        pss += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M).group(1))
        private += sum(int(x) for x in re.findall(r"^Private_(?:Clean|Dirty):\s+(\d+) kB", rollup, re.M))
        n += 1
    return {"processes": n, "rss_mb": rss / 1024, "pss_mb": pss / 1024, "private_mb": private / 1024}
