#!/usr/bin/env python3
"""Groups a flat `perf report --sort dso,sym -g none` (read on stdin) by
where the time goes: the kernel, libc's allocator and memory copies, the
vDSO clock, and each Rust crate by its symbol's leading path. Prints the
share of all samples per group, largest first (bench/profile.sh uses it)."""

import collections
import re
import sys

LINE = re.compile(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)")
ALLOCATOR = re.compile(r"malloc|free|_int_|unlink_chunk|consolidate")


def group(dso: str, symbol: str) -> str:
    if "kernel" in dso:
        return "kernel"
    if dso.startswith("libc"):
        if ALLOCATOR.search(symbol):
            return "libc allocator"
        if "mem" in symbol:
            return "libc memcpy/memmove"
        return "libc other (syscall wrappers)"
    if "vdso" in dso:
        return "vDSO clock_gettime"
    name = symbol.lstrip("<&")
    crate = re.match(r"[a-z_0-9]+", name)
    return crate.group(0) if crate else name[:40]


def main() -> None:
    shares = collections.Counter()
    for line in sys.stdin:
        match = LINE.match(line)
        if match:
            shares[group(match.group(2), match.group(4))] += float(match.group(1))
    for name, share in shares.most_common(20):
        print(f"  {share:6.2f}%  {name}")


if __name__ == "__main__":
    main()
