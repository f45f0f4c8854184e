"""Windows facts the Exchange build comes from: a file's version resource and the Setup key.

Thin on purpose: each function returns raw values; ``agent.exchange_build`` interprets them
and is tested on any OS. Off Windows every function returns None.
"""

from __future__ import annotations

import sys

__all__ = ["EXCHANGE_SETUP_KEY", "exchange_setup_values", "file_version"]

EXCHANGE_SETUP_KEY = r"SOFTWARE\Microsoft\ExchangeServer\v15\Setup"
_SETUP_VALUES = (
    "MsiInstallPath",
    "MsiProductMajor",
    "MsiProductMinor",
    "MsiBuildMajor",
    "MsiBuildMinor",
)


def file_version(path: str) -> tuple[int, int] | None:
    """``(FileVersionMS, FileVersionLS)`` of a PE file's fixed version info, or None."""
    if sys.platform != "win32":
        return None
    import win32api  # pywin32; imported here so that the module loads everywhere

    try:
        info = win32api.GetFileVersionInfo(path, "\\")
    except win32api.error:  # no such file, or no version resource
        return None
    return int(info["FileVersionMS"]), int(info["FileVersionLS"])


def exchange_setup_values() -> dict[str, str | int] | None:
    """The Exchange 2013-2019 Setup key's install path and build values, or None."""
    if sys.platform != "win32":
        return None
    import winreg

    out: dict[str, str | int] = {}
    try:
        # 64-bit view: a 32-bit Python would otherwise read the WOW6432Node copy, which
        # Exchange does not write.
        with winreg.OpenKey(
            winreg.HKEY_LOCAL_MACHINE,
            EXCHANGE_SETUP_KEY,
            0,
            winreg.KEY_READ | winreg.KEY_WOW64_64KEY,
        ) as key:
            for name in _SETUP_VALUES:
                try:
                    value, _kind = winreg.QueryValueEx(key, name)
                except FileNotFoundError:
                    continue
                if isinstance(value, (str, int)):
                    out[name] = value
    except FileNotFoundError:  # Exchange is not installed
        return None
    except OSError:
        return None
    return out
