"""
Debian packages the harness needs (PostgreSQL, Redis, Chromium), installed with ``apt-get``.

`install` runs ``apt-get update`` and ``apt-get install -y PACKAGE`` as root, or through
password-less ``sudo -n``; where neither is possible, or there is no ``apt-get``, it raises
`AptError` saying so, and the caller turns that into its own message (what is missing and how
to install it by hand).

Several harness processes may install at once: the test command installs Flowise and
PostgreSQL in the background while other sessions install Redis. They take turns on a lock
file, and ``apt-get`` itself waits for a lock held by any other package manager
(``DPkg::Lock::Timeout``) instead of failing at once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


LOCK_WAIT = 600
"""Seconds ``apt-get`` waits for another package manager's lock."""
LOCK_PATH = Path(tempfile.gettempdir()) / "flowise-async-apt.lock"
"""The lock file harness processes take turns on."""


class AptError(RuntimeError):
    """The package could not be installed here; the message says why."""


def privilege_prefix() -> list[str]:
    """``[]`` as root, ``[sudo, "-n"]`` with password-less sudo; else `AptError`."""
    if os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo is None or not _sudo_works(sudo):
        raise AptError(
            "installing it needs root: this process is not root and has no password-less sudo"
        )
    return [sudo, "-n"]


def install(
    package: str,
    *,
    timeout: float = 900.0,
    log: Callable[[str], None] | None = None,
) -> float:
    """
    Install the Debian *package* (without recommended packages); return the seconds it took.

    Raises:
        AptError: no ``apt-get``, no root or sudo, or ``apt-get`` failed (its output's tail).
    """
    apt = shutil.which("apt-get")
    if apt is None:
        raise AptError("this system has no apt-get")
    prefix = privilege_prefix()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    wait = ["-o", f"DPkg::Lock::Timeout={LOCK_WAIT}"]
    steps = (
        ["update", "-q", *wait],
        ["install", "-y", "-q", "--no-install-recommends", *wait, package],
    )
    started = time.monotonic()
    with LOCK_PATH.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another harness process installing: wait for it
        if log is not None:
            log(f"installing {package} with apt-get (once; a few minutes)")
        for args in steps:
            _run([*prefix, apt], args, env=env, timeout=timeout)
    return time.monotonic() - started


def _run(apt: list[str], args: list[str], *, env: dict[str, str], timeout: float) -> None:
    what = f"'apt-get {' '.join(args)}'"
    try:
        subprocess.run(
            [*apt, *args],
            check=True,
            env=env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        output = (exc.stderr or b"").decode("utf-8", "replace")[-2000:]
        raise AptError(f"{what} failed ({exc.returncode}):\n{output}") from exc
    except (subprocess.TimeoutExpired, OSError) as exc:
        raise AptError(f"{what} failed: {exc}") from exc


def _sudo_works(sudo: str) -> bool:
    try:
        result = subprocess.run(
            [sudo, "-n", "true"],
            capture_output=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError):
        return False
    return result.returncode == 0
