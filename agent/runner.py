"""Wires one agent together: state database, sources, spool and transport."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import psutil

from agent import identity
from agent.config import AgentConfig
from agent.content import ContentScanner
from agent.errors import ConfigError
from agent.exchange_build import detect_exchange_build
from agent.layout import watched_roots
from agent.logs.locations import default_log_globs
from agent.respond.commands import CommandHandler
from agent.respond.quarantine import Vault
from agent.sigma import SigmaRuleSet
from agent.sources.logs import LogMonitor
from agent.sources.processes import ProcessMonitor
from agent.sources.webroot import WebRootMonitor, hash_only, scanning_analyzer
from agent.spool import Spool
from agent.state import StateDB
from agent.transport import Identity, Transport
from protos import exwatch_pb2 as pb

log = logging.getLogger("exwatch.agent")


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
        self.ruleset = SigmaRuleSet.load(list(config.rules.sigma))
        for problem in self.ruleset.problems:
            log.info("Sigma rule not used: %s", problem)
        self.scanner = self._scanner(config)
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
        ls = config.logs
        self.logs = (
            LogMonitor(
                default_log_globs(config.exchange_root, config.inetpub),
                self.db,
                self.spool,
                self.ruleset,
                poll_seconds=ls.poll_seconds,
                lookback_days=ls.lookback_days,
                ship_all=ls.ship_all_records,
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
        self.transport = Transport(
            address,
            self.spool,
            self.identity,
            tls_dir=tls_dir,
            on_command=CommandHandler(
                Vault(config.data_dir / "quarantine", [r.path for r in self.roots]),
                self.spool.put,
                self.webroot.request_rescan,
            ),
            rules_version=self.rules_version,
            heartbeat=self.heartbeat,
            heartbeat_seconds=config.heartbeat_seconds,
            batch_max_events=config.spool.batch_max_events,
            batch_max_bytes=config.spool.batch_max_bytes,
            max_in_flight=config.spool.max_in_flight,
        )
        self._process = psutil.Process()
        self._process.cpu_percent()  # first call primes the counter
        self._started = time.monotonic()

    @staticmethod
    def _scanner(config: AgentConfig) -> ContentScanner | None:
        cs = config.content
        if not cs.enabled:
            return None
        scanner = ContentScanner.load(
            cs.rules, max_bytes=cs.max_scan_bytes, timeout_s=cs.timeout_seconds
        )
        for problem in scanner.problems:
            log.warning("YARA rule skipped: %s", problem)
        return scanner

    def rules_version(self) -> str:
        """What the agent judges with: Sigma and content rule versions together."""
        content = self.scanner.version if self.scanner else "off"
        return f"sigma:{self.ruleset.version[:12]} yara:{content[:12]}"

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

    def _sources(self) -> list[WebRootMonitor | LogMonitor | ProcessMonitor]:
        return [s for s in (self.webroot, self.logs, self.processes) if s is not None]

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
        self.transport.start()

    def stop(self) -> None:
        for source in self._sources():
            source.stop()
        self.transport.stop()
        self.db.close()

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()
