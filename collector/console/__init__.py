"""The MSP console: web pages, JSON API and metrics, served on the collector's loop.

Integration (the collector wires it)::

    app = create_app(ConsoleSettings(db_path=cfg.store_path), store)  # console.app
    server, port = await start_console(app, "127.0.0.1", 8080)  # console.server
    ...
    await stop_console(server)

Nothing is imported here: the CLI uses ``data`` and ``passwords`` without the web stack.
"""
