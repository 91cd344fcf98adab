"""Load a script of ``examples/`` as a module, for the tests that run it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(file_name: str, module_name: str) -> ModuleType:
    """Import ``examples/<file_name>`` under *module_name* (registered in ``sys.modules``)."""
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / file_name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
