"""How the simulated z/OS release is written in the reports lparsim prints.

Apart from lpar.py so that the command renderers (commands.py) can use them without importing
the LPAR module back (lpar.py imports everything that serves the LPAR).
"""

from __future__ import annotations


def netstat_release(release: str) -> str:
    major, minor = release.split(".")
    return f"V{major}R{minor}"


def pasearch_release(release: str) -> str:
    """`3.1` from z/OS 3.1 on (as the real 3.1 report prints), `V2R5` before."""
    return release if release >= "3.1" else netstat_release(release)
