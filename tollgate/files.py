"""Files only the service's own user may read: the data directory is 0700 and what the
services keep in it (the accounts SQLite database, the admin token) is 0600."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """``path`` as a directory (created, with its parents, if missing) of mode 0700. An existing
    one is tightened to 0700 when ``tighten`` and this user owns it; one it does not own (a
    mounted volume) is left as it is."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        os.chmod(path, DIR_MODE)  # mkdir's mode passes through the umask
    elif tighten and path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` exists with mode 0600 (created empty if missing; an existing file this user
    owns is tightened). SQLite gives its -wal and -shm files the database file's mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path
