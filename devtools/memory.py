"""Peak memory of a piece of work, measured in a fresh Python process: shared by the tests and the
benchmarks. `PEAK_PRELUDE` starts such a child script: it defines status_mb(field) (a /proc/self/status
field in MB) and reset_peak() (sets the peak, VmHWM, back to the RSS now; Linux >= 4.0), since a
child's ru_maxrss starts at its parent's peak."""

PEAK_PRELUDE = r"""
import re


def status_mb(field):
    with open("/proc/self/status") as f:
        return int(re.search(field + r":\s+(\d+) kB", f.read()).group(1)) / 1024


def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
"""
