"""The public surface: exports, version, docstrings, typing marker."""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import version
from pathlib import Path

import pytest

import flowise_async


PUBLIC_MODULES = [
    "flowise_async",
    "flowise_async.events",
    "flowise_async.models",
    "flowise_async.sse",
    "flowise_async.sync",
    "flowise_async.sync_compat",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    """__all__ is sorted, names only existing objects, and lists every public class."""
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    for attr in exported:
        assert hasattr(module, attr), attr
    public_classes = {
        n
        for n, obj in vars(module).items()
        if inspect.isclass(obj) and not n.startswith("_") and obj.__module__.startswith(name)
    }
    assert public_classes <= set(exported)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_objects_have_docstrings(name: str) -> None:
    """Every exported class and function has a docstring."""
    module = importlib.import_module(name)
    missing = [
        attr
        for attr in module.__all__
        if (inspect.isclass(getattr(module, attr)) or inspect.isfunction(getattr(module, attr)))
        and not inspect.getdoc(getattr(module, attr))
    ]
    assert missing == []


def test_version_matches_metadata() -> None:
    """__version__ comes from the installed package metadata."""
    assert flowise_async.__version__ == version("flowise-async")


def test_py_typed_shipped() -> None:
    """The package carries the py.typed marker."""
    assert (Path(flowise_async.__file__).parent / "py.typed").is_file()


def test_every_error_is_a_flowise_error() -> None:
    """Every exception class exported derives from FlowiseError."""
    errors = [
        obj
        for obj in (getattr(flowise_async, n) for n in flowise_async.__all__)
        if inspect.isclass(obj) and issubclass(obj, BaseException)
    ]
    assert len(errors) > 10
    assert all(issubclass(e, flowise_async.FlowiseError) for e in errors)
    assert issubclass(flowise_async.APITimeoutError, TimeoutError)
