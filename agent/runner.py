"""Wires one agent together: state database, sources, spool and transport."""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil

from agent import geoip, identity
from agent.accounts.baseline import Thresholds
from agent.budget import BudgetGovernor, Step, release_memory
from agent.bundles import BundleError, bundle_folders, write_bundle
from agent.compile_apart import load_scanner_apart
from agent.config import AgentConfig
from agent.content import ContentScanner
from agent.errors import AgentError, ConfigError
from agent.events import sensor_event
from agent.exchange_build import detect_exchange_build
from agent.layout import watched_roots
from agent.logs.formats import LogFormat
from agent.logs.locations import default_log_globs
from agent.respond.backends import host_containment
from agent.respond.collect import FileCollector, collect_roots
from agent.respond.commands import CommandHandler
from agent.respond.quarantine import Vault
from agent.sigma import SigmaRuleSet
from agent.sources.logquiet import QuietLogWatch
from agent.sources.logs import LogMonitor
from agent.sources.processes import ProcessMonitor
from agent.sources.webroot import WebRootMonitor, hash_only, scanning_analyzer
from agent.spool import Spool
from agent.state import StateDB
from agent.transport import Identity, Transport
from agent.winevent.source import EventLogSource
from protos import exwatch_pb2 as pb

log = logging.getLogger("exwatch.agent")

# How much slower the budget governor makes what it slows.
SLOWDOWN = 4.0

Source = (
    WebRootMonitor | LogMonitor | QuietLogWatch | ProcessMonitor | EventLogSource | BudgetGovernor
)


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.roots = watched_roots(config)  # raises ConfigError for a missing configured root
        self.db = StateDB(config.data_dir / "agent.db")
        if config.collector.insecure:
            address, tls_dir = config.collector.insecure_address, None
            agent_id = self._demo_agent_id()
        else:
            enrollment = identity.load(config.data_dir)
            if enrollment is None:
                raise ConfigError(
                    f"this agent is not enrolled (no identity in {config.data_dir}): run "
                    "'exwatch-agent enroll --collector HOST:PORT --token T --ca ca.pem' first",
                    key="collector",
                )
            address, tls_dir = config.collector.address or enrollment.collector, config.data_dir
            agent_id = enrollment.agent_id
        self.identity = Identity(agent_id=agent_id, hostname=config.hostname)
        self.spool = Spool(self.db, max_bytes=config.spool.max_bytes)
        self._rules_lock = threading.Lock()
        self.bundle_version = self.db.get_meta("bundle_version")
        bundle = config.data_dir / "bundles" / self.bundle_version
        if self.bundle_version and not bundle.is_dir():
            log.warning(
                "pushed rule bundle %s is missing; using the configured rules", self.bundle_version
            )
            self.bundle_version = ""
        self.ruleset, self.scanner = self._load_rules(
            bundle if self.bundle_version else None, strict=False
        )
        self.exchange_build = detect_exchange_build(override=config.host.exchange_build or None)
        log.info(
            "Exchange build %s (%s)",
            self.exchange_build.build or "unknown",
            self.exchange_build.source,
        )
        ws = config.webroots
        self.webroot = WebRootMonitor(
            self.roots,
            self.db,
            self.spool,
            settle_seconds=ws.settle_seconds,
            rescan_seconds=ws.rescan_seconds,
            max_hash_bytes=ws.max_hash_bytes,
            ignore_extensions=ws.ignore_extensions,
            analyzer=scanning_analyzer(self.scanner) if self.scanner else hash_only,
        )
        ls, ac = config.logs, config.accounts
        geoip.set_database(ac.geoip_database)  # countries for the rules that count them
        legacy_logons = (
            Thresholds(ac.min_modern, ac.learn_days, ac.quiet_days, ac.max_accounts)
            if ac.enabled
            else None
        )
        log_globs = default_log_globs(config.exchange_root, config.inetpub)
        self.logs = (
            LogMonitor(
                log_globs,
                self.db,
                self.spool,
                self.ruleset,
                poll_seconds=ls.poll_seconds,
                lookback_days=ls.lookback_days,
                ship_all=ls.ship_all_records,
                legacy_logons=legacy_logons,
            )
            if ls.enabled
            else None
        )
        self.quiet_logs = (
            QuietLogWatch(
                log_globs[LogFormat.IIS] + log_globs[LogFormat.HTTPPROXY],
                self.spool.put,
                quiet_seconds=ls.quiet_seconds,
                workers=ls.iis_workers,
                site_ports=ls.site_ports,
            )
            if ls.enabled
            else None
        )
        ps = config.processes
        self.processes = (
            ProcessMonitor(
                self.spool.put,
                parents=ps.parents,
                interval=ps.interval_seconds,
                detect=lambda fields: self.ruleset.match_event("process_creation", fields),
            )
            if ps.enabled
            else None
        )
        self.eventlog = (
            EventLogSource(
                self.spool.put,
                bookmarks_path=config.data_dir / "eventlog-bookmarks.json",
                detect=lambda logsource, fields: self.ruleset.match_event(logsource, fields),
            )
            if config.eventlog.enabled and sys.platform == "win32"
            else None
        )
        self.containment = host_containment(config, address, self.spool.put)
        self.transport = Transport(
            address,
            self.spool,
            self.identity,
            tls_dir=tls_dir,
            on_rules=self.apply_bundle,
            on_command=CommandHandler(
                Vault(config.data_dir / "quarantine", [r.path for r in self.roots]),
                self.spool.put,
                self.webroot.request_rescan,
                files=FileCollector(
                    collect_roots(
                        self.roots, default_log_globs(config.exchange_root, config.inetpub)
                    ),
                    max_bytes=config.respond.collect_max_bytes,
                ),
                containment=self.containment,
            ),
            rules_version=self.rules_version,
            heartbeat=self.heartbeat,
            heartbeat_seconds=config.heartbeat_seconds,
            batch_max_events=config.spool.batch_max_events,
            batch_max_bytes=config.spool.batch_max_bytes,
            max_in_flight=config.spool.max_in_flight,
        )
        self.budget = BudgetGovernor(
            self._budget_steps(),
            self.spool.put,
            cpu_percent=config.budget.cpu_percent,
            memory_mb=config.budget.memory_mb,
            sample_seconds=config.budget.sample_seconds,
        )
        self._process = psutil.Process()
        self._process.cpu_percent()  # first call primes the counter
        self._started = time.monotonic()

    def _budget_steps(self) -> list[Step]:
        """What the governor may slow, least valuable first. Web-root watching is not here:
        only its periodic rescans are."""
        webroot, logs, processes = self.webroot, self.logs, self.processes

        def slow_background() -> None:
            webroot.rescan_slowdown = SLOWDOWN
            if logs is not None:
                logs.hunt_duty = 1 / SLOWDOWN

        def restore_background() -> None:
            webroot.rescan_slowdown = 1.0
            if logs is not None:
                logs.hunt_duty = 1.0

        steps = [Step("retro-hunts and rescans", slow_background, restore_background)]
        if processes is not None:
            interval = processes.interval
            steps.append(
                Step(
                    "process polling",
                    lambda: setattr(processes, "interval", interval * SLOWDOWN),
                    lambda: setattr(processes, "interval", interval),
                )
            )
        if logs is not None:
            steps.append(
                Step(
                    "log polling",
                    lambda: setattr(logs, "poll_slowdown", SLOWDOWN),
                    lambda: setattr(logs, "poll_slowdown", 1.0),
                )
            )
        return steps

    def _load_rules(
        self, bundle: Path | None, *, strict: bool
    ) -> tuple[SigmaRuleSet, ContentScanner | None]:
        """Built-in + configured rules (+ a pushed bundle). ``strict``: a bundle's YARA file
        that does not compile rejects the whole bundle instead of being skipped."""
        sigma_extra, yara_extra = bundle_folders(bundle) if bundle else ([], [])
        ruleset = SigmaRuleSet.load([*self.config.rules.sigma, *sigma_extra])
        for sigma_problem in ruleset.problems:
            log.info("Sigma rule not used: %s", sigma_problem)
        cs = self.config.content
        if not cs.enabled:
            return ruleset, None
        scanner = load_scanner_apart(
            [*cs.rules, *yara_extra], max_bytes=cs.max_scan_bytes, timeout_s=cs.timeout_seconds
        )
        for problem in scanner.problems:
            if strict and bundle and str(problem.file).startswith(str(bundle)):
                raise BundleError(f"YARA rule does not compile: {problem}")
            log.warning("YARA rule skipped: %s", problem)
        return ruleset, scanner

    def apply_bundle(self, bundle: pb.RuleBundle) -> None:
        """A bundle from the collector: checked with our own engines, then in force for
        every source at once, without a restart; the logs are hunted again with it. A bad
        bundle is reported and changes nothing."""
        with self._rules_lock:
            if bundle.version == self.bundle_version:
                return
            folder = self.config.data_dir / "bundles" / bundle.version
            try:
                write_bundle(folder, bundle)
                ruleset, scanner = self._load_rules(folder, strict=True)
            except AgentError as exc:
                log.error("rule bundle %s rejected: %s", bundle.version, exc)
                self.spool.put(
                    [
                        sensor_event(
                            "rules",
                            pb.SENSOR_STATE_DEGRADED,
                            "rules_rejected",
                            f"bundle {bundle.version[:16]} rejected, previous rules kept: {exc}",
                        )
                    ]
                )
                return
            self.ruleset, self.scanner = ruleset, scanner
            self.webroot.analyzer = scanning_analyzer(scanner) if scanner else hash_only
            if self.logs is not None:
                self.logs.set_rules(ruleset)
            self.bundle_version = bundle.version
            with self.db.transaction() as conn:
                StateDB.set_meta(conn, "bundle_version", bundle.version)
            log.info("rule bundle %s in force (%d files)", bundle.version, len(bundle.files))
        self.transport.heartbeat_now()

    def rules_version(self) -> str:
        """What the agent judges with: Sigma, content and pushed-bundle versions."""
        content = self.scanner.version if self.scanner else "off"
        version = f"sigma:{self.ruleset.version[:12]} yara:{content[:12]}"
        return f"{version} bundle:{self.bundle_version}" if self.bundle_version else version

    def _demo_agent_id(self) -> str:
        """Without enrollment (loopback demo) the agent names itself, once."""
        agent_id = self.db.get_meta("agent_id")
        if not agent_id:
            agent_id = uuid.uuid4().hex
            with self.db.transaction() as conn:
                StateDB.set_meta(conn, "agent_id", agent_id)
        return agent_id

    def heartbeat(self) -> pb.Heartbeat:
        events, spool_bytes = self.spool.depth()
        uptime = max(time.monotonic() - self._started, 1e-3)
        return pb.Heartbeat(
            host_time_ns=time.time_ns(),
            host_cpu_percent=psutil.cpu_percent(interval=None),
            agent_cpu_percent=self._process.cpu_percent(),
            agent_rss_bytes=self._process.memory_info().rss,
            spool_events=events,
            spool_bytes=spool_bytes,
            events_shed_total=self.spool.shed_total,
            events_per_second=self.webroot.events_reported / uptime,
            rules_version=self.rules_version(),
            exchange_build=self.exchange_build.build,
            sensors=[s.sensor_status() for s in self._sources()],
        )

    def _sources(self) -> list[Source]:
        sources = (
            self.webroot, self.logs, self.quiet_logs, self.processes, self.eventlog, self.budget,
        )  # fmt: skip
        return [s for s in sources if s is not None]

    def start(self) -> None:
        for root in self.roots:
            log.info(
                "watching %s (%s)%s",
                root.path,
                root.kind,
                "" if root.path.is_dir() else " - absent for now",
            )
        for source in self._sources():
            source.start()
        self.containment.resume()  # lift what ran out while the agent was down
        self.transport.start()

    def stop(self) -> None:
        for source in self._sources():
            source.stop()
        self.transport.stop()
        self.containment.close()
        self.db.close()

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            self._settle(stop)
            stop.wait()
        finally:
            self.stop()

    def _settle(self, stop: threading.Event) -> None:
        """Once the start-up baseline and hunt are done, hand their transient memory back."""
        for ready in (self.webroot.ready, self.logs.ready if self.logs else None):
            while ready is not None and not ready.wait(1.0):
                if stop.is_set():
                    return
        release_memory()
        gc.freeze()  # what is left is long-lived: later collections need not walk it again
