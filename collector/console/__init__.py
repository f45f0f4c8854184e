"""The MSP console: web pages, JSON API and metrics, served on the collector's loop.

Integration (the collector wires it)::

    app = create_app(ConsoleSettings(db_path=cfg.store_path), store)
    server, port = await start_console(app, "127.0.0.1", 8080)
    ...
    await stop_console(server)
"""

from collector.console.app import bootstrap_admin, create_app
from collector.console.server import ConsoleServer, start_console, stop_console
from collector.console.settings import ConsoleSettings

__all__ = [
    "ConsoleServer",
    "ConsoleSettings",
    "bootstrap_admin",
    "create_app",
    "start_console",
    "stop_console",
]
