#!/usr/bin/env python3
"""Turn routes.dsl into the proxy benchmark's routes file (bench/proxy.sh).

It keeps the Dating Platform as written (services, chains, JWT, CORS,
logging, headers) and changes only what a load test on one client address
needs, each change stated here so the table in BENCHMARKS.md can be read
against it:

- the gateway's default chain moves onto each gateway service, so that a
  new service `bench-bare` (prefix `/bare/`) can have no chain at all: the
  "bare route" of the benchmark;
- the rate limits' averages and bursts are raised to 100,000,000 per
  second: wrk is one client address and one user, and a 429 answered by
  the limiter is not the proxying being measured (the limiter still runs
  and counts every request);
- the upstream pool (`max_total`, `max_per_host`) is raised to 1024, so
  256 client connections are not queued behind 20 upstream connections
  (nginx and HAProxy are not capped either).

usage: bench_dsl.py routes.dsl > bench.dsl
"""
import re
import sys

BIG_RATE = "100000000"


def move_default_chain(text: str) -> str:
    """Removes the gateway block's `chain NAME` and writes it into every
    service with gateway prefixes that names no chain of its own."""
    gateway = re.search(r"^gateway \{\n(.*?)^\}", text, re.S | re.M)
    if gateway is None:
        sys.exit("bench_dsl.py: no gateway block")
    chain = re.search(r"^  chain (\S+)\n", gateway.group(1), re.M)
    if chain is None:
        return text
    body = gateway.group(1).replace(chain.group(0), "", 1)
    text = text[: gateway.start(1)] + body + text[gateway.end(1) :]

    def add_chain(service: re.Match) -> str:
        block = service.group(0)
        if "\n  prefix " not in block or "\n  chain " in block:
            return block
        return block.replace("\n}", f"\n  chain {chain.group(1)}\n}}", 1)

    return re.sub(r"^service \S+ \{\n.*?^\}", add_chain, text, flags=re.S | re.M)


def raise_limits(text: str) -> str:
    text = re.sub(r"(?m)^(  average )\d+/", rf"\g<1>{BIG_RATE}/", text)
    text = re.sub(r"(?m)^(  burst )\d+$", rf"\g<1>{BIG_RATE}", text)
    text = re.sub(r"(?m)^(    max_total )\d+$", r"\g<1>1024", text)
    return re.sub(r"(?m)^(    max_per_host )\d+$", r"\g<1>1024", text)


BARE_SERVICE = """
# bench/bench_dsl.py: a gateway route with no middleware chain.
service bench-bare {
  port 80
  replicas 1
  prefix "/bare/"
}
"""


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    text = raise_limits(move_default_chain(text))
    sys.stdout.write(text + BARE_SERVICE)


if __name__ == "__main__":
    main()
