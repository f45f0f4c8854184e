"""Cost of correlation on the commit path: the same batches committed into a fresh SQLite
store with the built-in correlation rules and with none, plus the engine alone.

Method: B batches of E events (the ingest benchmark's mix: nine IIS log records that match
no rule to one clean web-root file change, from ``bench_events.mixed_event``; every 50th
batch also carries a webshell drop and the request that uses it, which open an incident
and fire the "webshell dropped then requested" correlation) are committed by one thread
into a new store file, once with the built-in rules and once with an empty rule set,
alternating the order over R rounds; figure = committed events/s (best round of each).
The engine alone: ``Correlator.match`` over the same events, CPU time per event.

    python benchmarks/correlation.py [--batches 200] [--events 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_events import attack_events, mixed_event

from collector.correlation.engine import Correlator
from collector.correlation.rules import RuleSet, builtin_rules
from collector.store import AgentInfo, Store
from protos import exwatch_pb2 as pb

AGENT = AgentInfo("bench-agent", "bench", "EXCH01")


def batches(count: int, size: int) -> list[list[pb.Event]]:
    out = []
    for b in range(count):
        events = [mixed_event(b * size + i) for i in range(size)]
        if b % 50 == 0:
            events += attack_events(b * size)
        out.append(events)
    return out


def commit_rate(folder: Path, name: str, rules: RuleSet, work: list[list[pb.Event]]) -> float:
    store = Store(folder / f"{name}.db", correlation=rules)
    try:
        store.register_agent(AGENT, agent_version="b", rules_version="", os="", now_ns=1)
        start = time.perf_counter()
        for sequence, events in enumerate(work, 1):
            store.commit_batch(AGENT, sequence, events, now_ns=time.time_ns())
        elapsed = time.perf_counter() - start
    finally:
        store.close()
    return sum(len(b) for b in work) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = batches(args.batches, args.events)
    events = [e for b in work for e in b]
    builtin, empty = builtin_rules(), RuleSet(base={}, correlations=())

    correlator = Correlator(builtin)
    start = time.process_time()
    for e in events:
        correlator.match(AGENT.tenant, AGENT.agent_id, AGENT.hostname, e)
    engine_us = (time.process_time() - start) / len(events) * 1e6

    rates: dict[str, list[float]] = {"with": [], "without": []}
    with tempfile.TemporaryDirectory(prefix="exwatch-bench-corr-") as tmp:
        for r in range(args.rounds):
            order = [("with", builtin), ("without", empty)]
            for name, rules in order if r % 2 == 0 else order[::-1]:
                rates[name].append(commit_rate(Path(tmp), f"{name}{r}", rules, work))
    best_with, best_without = max(rates["with"]), max(rates["without"])
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(
        f"method: {args.batches} batches x {args.events} events (+ an attack every 50th), "
        f"one thread, fresh SQLite store per run, best of {args.rounds} rounds"
    )
    print(f"engine alone: Correlator.match {engine_us:.1f} us CPU per event")
    print(f"commit with built-in correlation rules: {best_with:,.0f} events/s")
    print(f"commit without correlation rules:       {best_without:,.0f} events/s")
    print(f"ratio: {best_with / best_without:.2f}")


if __name__ == "__main__":
    main()
