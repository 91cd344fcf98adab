"""The Flowise install gives npm every tarball's address, so that npm fetches no metadata."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness import install


REGISTRY = "https://registry.example.test/npm/"


def _lock(packages: dict[str, Any]) -> dict[str, Any]:
    return {"name": "h", "lockfileVersion": 3, "requires": True, "packages": packages}


def test_plain_scoped_nested_and_aliased_packages_get_their_tarball() -> None:
    lock = _lock(
        {
            "": {"name": "h", "dependencies": {"flowise": "3.1.4"}},
            "node_modules/flowise": {"version": "3.1.4", "integrity": "sha512-a"},
            "node_modules/@langchain/core": {"version": "0.3.1", "integrity": "sha512-b"},
            "node_modules/a/node_modules/@s/b": {"version": "1.0.0", "integrity": "sha512-c"},
            "node_modules/strip-ansi-cjs": {
                "name": "strip-ansi",
                "version": "6.0.1",
                "integrity": "sha512-d",
            },
        }
    )
    located = install.lock_with_tarball_urls(lock, REGISTRY)["packages"]
    assert located["node_modules/flowise"]["resolved"] == (
        "https://registry.example.test/npm/flowise/-/flowise-3.1.4.tgz"
    )
    assert located["node_modules/@langchain/core"]["resolved"] == (
        "https://registry.example.test/npm/@langchain/core/-/core-0.3.1.tgz"
    )
    assert located["node_modules/a/node_modules/@s/b"]["resolved"] == (
        "https://registry.example.test/npm/@s/b/-/b-1.0.0.tgz"
    )
    assert located["node_modules/strip-ansi-cjs"]["resolved"] == (
        "https://registry.example.test/npm/strip-ansi/-/strip-ansi-6.0.1.tgz"
    )
    assert "resolved" not in located[""]
    # Everything else is kept, and the lock passed in is not changed.
    assert located["node_modules/flowise"]["integrity"] == "sha512-a"
    assert "resolved" not in lock["packages"]["node_modules/flowise"]


@pytest.mark.parametrize(
    "entry",
    [
        {"version": "1.0.0", "integrity": "sha512-x", "resolved": "https://elsewhere/x.tgz"},
        {"version": "1.0.0", "integrity": "sha512-x", "inBundle": True},
        {"resolved": "../local", "link": True},
        {"version": "1.0.0"},  # no integrity: not a registry tarball npm could check
    ],
    ids=["has-an-address", "bundled", "linked", "no-integrity"],
)
def test_other_packages_are_left_as_they_are(entry: dict[str, Any]) -> None:
    located = install.lock_with_tarball_urls(_lock({"node_modules/x": entry}), REGISTRY)
    assert located["packages"]["node_modules/x"] == entry


@pytest.mark.parametrize("version", sorted(install.LINES))
def test_every_package_of_a_committed_lock_gets_an_address(version: str) -> None:
    path = install.line(version).lock_dir / "package-lock.json"
    lock = json.loads(path.read_text(encoding="utf-8"))
    located = install.lock_with_tarball_urls(lock, install.DEFAULT_REGISTRY)["packages"]
    missing = [key for key, entry in located.items() if key and "resolved" not in entry]
    assert missing == []
    assert located["node_modules/flowise"]["resolved"] == (
        f"https://registry.npmjs.org/flowise/-/flowise-{version}.tgz"
    )


def test_npms_default_registry_where_npm_cannot_say(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("node")

    monkeypatch.setattr(install.subprocess, "run", fail)
    assert install.npm_registry() == install.DEFAULT_REGISTRY


# -- a new install gets the packages it shares with one already there --------------------------


def _package(root: Path, key: str, version: str, files: dict[str, str]) -> None:
    folder = root / key
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(json.dumps({"version": version}))
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def _entry(version: str, **extra: Any) -> dict[str, Any]:
    return {"version": version, "integrity": f"sha512-{version}", **extra}


@pytest.fixture
def other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A completed install of another line in the cache, as npm leaves it."""
    monkeypatch.setenv("FLOWISE_ASYNC_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "cache" / "flowise-9.9.9-node24"
    packages = {
        "node_modules/flowise": _entry("9.9.9"),
        "node_modules/left-pad": _entry("1.3.0", bin={"pad": "cli.js"}),
        "node_modules/@s/b": _entry("2.0.0"),
        "node_modules/@s/b/node_modules/c": _entry("1.0.0"),
        "node_modules/sqlite3": _entry("5.1.7", hasInstallScript=True),
        "node_modules/old": _entry("1.0.0"),
    }
    for key, entry in packages.items():
        _package(root, key, entry["version"], {"index.js": key})
    _package(root, "node_modules/flowise", "9.9.9", {"bin/run": "#!/usr/bin/env node"})
    _package(root, "node_modules/sqlite3", "5.1.7", {"build/Release/x.node": "compiled"})
    _package(root, "node_modules/left-pad", "1.3.0", {"cli.js": "pad"})
    (root / "node_modules" / "@s" / "b" / "lib").symlink_to("..")  # a link to a folder
    bins = root / "node_modules" / ".bin"
    bins.mkdir()
    (bins / "pad").symlink_to("../left-pad/cli.js")
    (bins / "run").symlink_to("../flowise/bin/run")
    hidden = {"name": "h", "lockfileVersion": 3, "requires": True, "packages": packages}
    (root / "node_modules" / ".package-lock.json").write_text(json.dumps(hidden))
    (root / install.MARKER_NAME).write_text("{}")
    return root


def test_a_new_install_gets_the_shared_packages_as_hard_links(other: Path, tmp_path: Path) -> None:
    root = tmp_path / "cache" / "flowise-1.0.0-node20"
    root.mkdir()
    lock = _lock(
        {
            "": {"name": "h"},
            "node_modules/flowise": _entry("1.0.0"),  # another version: npm installs it
            "node_modules/left-pad": _entry("1.3.0", bin={"pad": "cli.js"}),
            "node_modules/@s/b": _entry("2.0.0"),
            "node_modules/@s/b/node_modules/c": _entry("1.0.1"),  # nested, another version
            "node_modules/sqlite3": _entry("5.1.7", hasInstallScript=True),  # may be built
            "node_modules/old": {"version": "1.0.0", "integrity": "sha512-other"},
            "node_modules/new": _entry("0.1.0"),
        }
    )

    assert install.seed(root, lock) == 2

    modules = root / "node_modules"
    for key in ("left-pad", "@s/b"):
        ours, theirs = modules / key / "index.js", other / "node_modules" / key / "index.js"
        assert ours.stat().st_ino == theirs.stat().st_ino  # a hard link, not a copy
    assert os.readlink(modules / "@s" / "b" / "lib") == ".."
    assert not (modules / "@s" / "b" / "node_modules").exists()  # c is a package of its own
    for key in ("flowise", "sqlite3", "old", "new"):
        assert not (modules / key).exists()
    assert os.readlink(modules / ".bin" / "pad") == "../left-pad/cli.js"
    assert not (modules / ".bin" / "run").exists()  # flowise was not shared
    hidden = json.loads((modules / ".package-lock.json").read_text())
    assert sorted(hidden["packages"]) == ["node_modules/@s/b", "node_modules/left-pad"]
    # npm trusts it only while no folder it describes is newer.
    written = (modules / ".package-lock.json").stat().st_mtime
    folders = [Path(d) for d, _, _ in os.walk(modules)]
    assert all(folder.stat().st_mtime <= written for folder in folders)


def test_a_first_install_has_nothing_to_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWISE_ASYNC_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "cache" / "flowise-1.0.0-node20"
    root.mkdir(parents=True)
    lock = _lock({"": {"name": "h"}, "node_modules/x": _entry("1.0.0")})
    assert install.seed(root, lock) == 0
    assert not (root / "node_modules").exists()


def test_an_install_without_its_record_is_not_shared(other: Path, tmp_path: Path) -> None:
    """An install that did not complete (no marker) may lack files: nothing comes from it."""
    (other / install.MARKER_NAME).unlink()
    root = tmp_path / "cache" / "flowise-1.0.0-node20"
    root.mkdir()
    lock = _lock({"": {"name": "h"}, "node_modules/left-pad": _entry("1.3.0")})
    assert install.seed(root, lock) == 0
