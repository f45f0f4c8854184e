"""Open a log read-only without getting in the way of the program that writes it.

Python's ``open()`` on Windows does not pass ``FILE_SHARE_DELETE``, so while we hold a
handle IIS and Exchange can neither rotate nor delete the file (DESIGN promise 3). On
Windows we therefore call ``CreateFileW`` ourselves with every share flag and wrap the
handle in a CRT file descriptor. On POSIX, a plain ``open`` never blocks deletion.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO

if sys.platform == "win32":  # pragma: no cover - exercised only on Windows hosts
    import ctypes
    import msvcrt
    from ctypes import wintypes

    _GENERIC_READ = 0x80000000
    _SHARE_ALL = 0x1 | 0x2 | 0x4  # FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE
    _OPEN_EXISTING = 3
    _FILE_ATTRIBUTE_NORMAL = 0x80
    _INVALID_HANDLE = wintypes.HANDLE(-1).value

    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _create_file = _kernel32.CreateFileW
    _create_file.argtypes = [
        wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID,
        wintypes.DWORD, wintypes.DWORD, wintypes.HANDLE,
    ]
    _create_file.restype = wintypes.HANDLE
    _close_handle = _kernel32.CloseHandle
    _close_handle.argtypes = [wintypes.HANDLE]
    _close_handle.restype = wintypes.BOOL

    def open_shared(path: Path | str) -> BinaryIO:
        """Open ``path`` for binary reading; others may still write, rename and delete it."""
        handle = _create_file(
            os.fspath(path), _GENERIC_READ, _SHARE_ALL, None,
            _OPEN_EXISTING, _FILE_ATTRIBUTE_NORMAL, None,
        )
        if handle is None or handle == _INVALID_HANDLE:
            # WinError maps winerror 2/3 to FileNotFoundError, 5/32 to PermissionError.
            raise ctypes.WinError(ctypes.get_last_error())
        try:
            fd = msvcrt.open_osfhandle(handle, os.O_RDONLY | os.O_BINARY)
        except OSError:
            _close_handle(handle)
            raise
        return open(fd, "rb")  # the caller owns and closes it

else:

    def open_shared(path: Path | str) -> BinaryIO:
        """Open ``path`` for binary reading (POSIX never blocks rename or unlink)."""
        return open(path, "rb")  # the caller owns and closes it
