"""Notification channels: one module per destination, plus the pure syslog/CEF formatters.

Each module offers ``from_config(name, keys) -> Channel``; a Channel is frozen config
whose ``deliver(message, http)`` sends one page or raises DeliveryError.
"""
