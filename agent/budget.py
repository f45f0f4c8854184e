"""The agent's CPU and memory budgets: over budget, slow the least valuable work first.

A governor thread samples the agent's own CPU (percent of one core since the previous
sample) and resident memory. Each sample over either budget takes one more step down the
ladder the runner gives it (retro-hunts and rescans, then process polling, then log
polling; web-root watching is never on it); after several samples comfortably under both
budgets it gives back the most recent step. Every step either way is a sensor event, and
the heartbeat's sensor status says what is slowed now.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psutil

from agent.events import sensor_event
from protos import exwatch_pb2 as pb

log = logging.getLogger("exwatch.agent.budget")

SENSOR = "budget"
# Under this fraction of both budgets counts as calm (no flapping at the threshold) ...
CALM_FRACTION = 0.7
# ... and this many calm samples in a row give back one step.
CALM_SAMPLES = 3

Emit = Callable[[list[pb.Event]], None]


@dataclass(frozen=True, slots=True)
class Step:
    """One way to slow down: what it slows (for the report), how, and how to undo it."""

    name: str
    slow: Callable[[], None]
    restore: Callable[[], None]


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_percent: float  # of one core, since the previous sample
    rss_mb: float


def own_usage_meter() -> Callable[[], Usage]:
    """Samples of this process's CPU and RSS. A psutil.Process of its own, so other callers
    of ``cpu_percent`` (the heartbeat) do not reset its interval."""
    process = psutil.Process()
    process.cpu_percent()  # the first call only primes the counter

    def measure() -> Usage:
        return Usage(process.cpu_percent(), process.memory_info().rss / 2**20)

    return measure


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None  # not musl


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the OS (glibc keeps it otherwise)."""
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


class BudgetGovernor:
    def __init__(
        self,
        steps: Sequence[Step],
        emit: Emit,
        *,
        cpu_percent: float,
        memory_mb: float,
        sample_seconds: float = 10.0,
        measure: Callable[[], Usage] | None = None,
    ) -> None:
        if cpu_percent <= 0 or memory_mb <= 0 or sample_seconds <= 0:
            raise ValueError("budgets and the sample interval must be positive")
        self.steps = tuple(steps)
        self.emit = emit
        self.cpu_percent = cpu_percent
        self.memory_mb = memory_mb
        self.sample_seconds = sample_seconds
        self._measure = measure or own_usage_meter()
        self.level = 0  # how many steps are in force
        self.last = Usage(0.0, 0.0)
        self._calm = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        # The first sample starts now: start-up work (rules compiled, checkpoints read) is
        # not the steady state the budget is about.
        self._measure()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="exwatch-budget", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            while self.level:  # leave the sources as configured
                self.level -= 1
                self.steps[self.level].restore()

    def _run(self) -> None:
        while not self._stop.wait(self.sample_seconds):
            try:
                self.check()
            except Exception:  # a failed sample must not end budgeting
                log.exception("budget sample failed")

    # ------------------------------------------------------------------ the decision

    def _over(self, usage: Usage) -> list[str]:
        over = []
        if usage.cpu_percent > self.cpu_percent:
            over.append(f"CPU {usage.cpu_percent:.1f} % of one core > {self.cpu_percent:g} %")
        if usage.rss_mb > self.memory_mb:
            over.append(f"memory {usage.rss_mb:.0f} MB > {self.memory_mb:g} MB")
        return over

    def check(self) -> None:
        """One sample: take a step down when over budget, give one back when calm."""
        usage = self._measure()
        with self._lock:
            self.last = usage
            over = self._over(usage)
            if over:
                self._calm = 0
                if any("memory" in reason for reason in over):
                    release_memory()
                if self.level < len(self.steps):
                    step = self.steps[self.level]
                    step.slow()
                    self.level += 1
                    self._report("budget_throttled", f"{'; '.join(over)}: slowed {step.name}")
                return
            calm = (
                usage.cpu_percent <= self.cpu_percent * CALM_FRACTION
                and usage.rss_mb <= self.memory_mb * CALM_FRACTION
            )
            self._calm = self._calm + 1 if calm else 0
            if self.level and self._calm >= CALM_SAMPLES:
                self._calm = 0
                self.level -= 1
                step = self.steps[self.level]
                step.restore()
                self._report(
                    "budget_restored",
                    f"back under budget (CPU {usage.cpu_percent:.1f} %, memory "
                    f"{usage.rss_mb:.0f} MB): {step.name} at full speed again",
                )

    def _slowed(self) -> str:
        return ", ".join(s.name for s in self.steps[: self.level])

    def _report(self, kind: str, detail: str) -> None:
        if self.level:
            detail += f" (slowed now: {self._slowed()})"
        log.warning("budget: %s", detail)
        state = pb.SENSOR_STATE_DEGRADED if self.level else pb.SENSOR_STATE_OK
        self.emit([sensor_event(SENSOR, state, kind, detail, count=self.level)])

    def sensor_status(self) -> pb.SensorStatus:
        with self._lock:
            usage, level = self.last, self.level
            budgets = (
                f"CPU {usage.cpu_percent:.1f} % of {self.cpu_percent:g} %, "
                f"memory {usage.rss_mb:.0f} of {self.memory_mb:g} MB"
            )
            if not level:
                return pb.SensorStatus(
                    name=SENSOR, state=pb.SENSOR_STATE_OK, detail=f"within budget ({budgets})"
                )
            return pb.SensorStatus(
                name=SENSOR,
                state=pb.SENSOR_STATE_DEGRADED,
                detail=f"over budget ({budgets}); slowed: {self._slowed()}",
            )
