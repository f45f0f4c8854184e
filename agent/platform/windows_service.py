"""Host the agent as a Windows service (pywin32). Thin on purpose: everything it runs is
the same ``Agent`` the console command runs, tested on Linux.

Started by the service control manager as ``exwatch-agent service --config FILE``
(deploy/windows/install.ps1 registers exactly that command line).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from pathlib import Path

from agent.errors import AgentError

# A service has no console: its log goes to a file in the state folder, bounded.
LOG_FILE_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 5


def _log_to_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def run_as_service(config_path: Path) -> None:
    if sys.platform != "win32":
        raise AgentError(
            "'service' runs the agent under the Windows service manager; "
            "on this system use 'exwatch-agent run' (or the systemd unit)"
        )
    import servicemanager  # type: ignore[import-not-found,unused-ignore]
    import win32service  # type: ignore[import-not-found,unused-ignore]
    import win32serviceutil  # type: ignore[import-not-found,unused-ignore]

    from agent.config import load_config
    from agent.runner import Agent

    class AgentService(win32serviceutil.ServiceFramework):  # type: ignore[misc,unused-ignore]
        _svc_name_ = "exwatch-agent"
        _svc_display_name_ = "exwatch agent"

        def __init__(self, args: list[str]) -> None:
            super().__init__(args)
            self.stop_event = threading.Event()

        def SvcStop(self) -> None:
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
            self.stop_event.set()

        def SvcDoRun(self) -> None:
            config = load_config(config_path)
            _log_to_file(config.data_dir / "agent.log")
            Agent(config).run(self.stop_event)

    servicemanager.Initialize()
    servicemanager.PrepareToHostSingle(AgentService)
    servicemanager.StartServiceCtrlDispatcher()
