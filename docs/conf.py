"""Sphinx configuration: MyST Markdown pages, furo theme, API reference from the docstrings."""

from __future__ import annotations

import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document the working tree, as the tests do

project = "flowise_async"
author = "flowise_async contributors"
copyright = "flowise_async contributors"
try:
    release = version("flowise-async")
except PackageNotFoundError:
    release = "0.0.0"
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]


class _NoConfigDump(logging.Filter):
    """Drop the very long dump of MyST's whole configuration that every build logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "MdParserConfig(" not in str(record.msg) + str(record.args)


logging.getLogger("sphinx.myst_parser.sphinx_ext.main").addFilter(_NoConfigDump())

# MyST: ```{directive} fences, $-free text, `:::` colon fences, heading anchors for links.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# `Name` in docstrings is a cross-reference to the Python object of that name.
default_role = "py:obj"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

# Intersphinx without network access: the build writes small inventories of the outside names
# these docs mention, each pointing at the project's real online documentation.
INVENTORIES: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "python": (
        "https://docs.python.org/3/",
        [
            # (name, domain:role, page relative to the base; the anchor is the name)
            ("Exception", "py:exception", "library/exceptions.html"),
            ("RuntimeError", "py:exception", "library/exceptions.html"),
            ("TimeoutError", "py:exception", "library/exceptions.html"),
            ("ValueError", "py:exception", "library/exceptions.html"),
            ("TypeError", "py:exception", "library/exceptions.html"),
            ("ResourceWarning", "py:exception", "library/exceptions.html"),
            ("asyncio.CancelledError", "py:exception", "library/asyncio-exceptions.html"),
            ("asyncio.timeout", "py:function", "library/asyncio-task.html"),
            ("asyncio.TaskGroup", "py:class", "library/asyncio-task.html"),
            ("json.loads", "py:function", "library/json.html"),
            ("typing.Any", "py:data", "library/typing.html"),
            ("typing.IO", "py:class", "library/typing.html"),
            ("typing.Literal", "py:data", "library/typing.html"),
            ("typing.Final", "py:data", "library/typing.html"),
            ("collections.abc.Mapping", "py:class", "library/collections.abc.html"),
            ("collections.abc.Sequence", "py:class", "library/collections.abc.html"),
            ("collections.abc.Iterable", "py:class", "library/collections.abc.html"),
            ("collections.abc.AsyncIterator", "py:class", "library/collections.abc.html"),
            ("collections.abc.AsyncIterable", "py:class", "library/collections.abc.html"),
            ("collections.abc.Awaitable", "py:class", "library/collections.abc.html"),
            ("collections.abc.Callable", "py:class", "library/collections.abc.html"),
            ("collections.abc.Generator", "py:class", "library/collections.abc.html"),
            ("collections.abc.Iterator", "py:class", "library/collections.abc.html"),
            ("collections.abc.Collection", "py:class", "library/collections.abc.html"),
            ("contextlib.AbstractAsyncContextManager", "py:class", "library/contextlib.html"),
            ("pathlib.Path", "py:class", "library/pathlib.html"),
            ("contextlib.AbstractAsyncContextManager", "py:class", "library/contextlib.html"),
            ("enum.StrEnum", "py:class", "library/enum.html"),
            ("ssl.SSLContext", "py:class", "library/ssl.html"),
            ("types.TracebackType", "py:class", "library/types.html"),
            ("datetime.datetime", "py:class", "library/datetime.html"),
            ("logging.Logger", "py:class", "library/logging.html"),
            ("logging", "py:module", "library/logging.html"),
            ("enum.Enum", "py:class", "library/enum.html"),
            ("object", "py:class", "library/functions.html"),
            ("str", "py:class", "library/stdtypes.html"),
            ("bytes", "py:class", "library/stdtypes.html"),
            ("int", "py:class", "library/functions.html"),
            ("float", "py:class", "library/functions.html"),
            ("bool", "py:class", "library/functions.html"),
            ("dict", "py:class", "library/stdtypes.html"),
            ("list", "py:class", "library/stdtypes.html"),
            ("tuple", "py:class", "library/stdtypes.html"),
            ("set", "py:class", "library/stdtypes.html"),
            ("frozenset", "py:class", "library/stdtypes.html"),
            ("None", "py:data", "library/constants.html"),
            ("True", "py:data", "library/constants.html"),
            ("False", "py:data", "library/constants.html"),
        ],
    ),
    "aiohttp": (
        "https://docs.aiohttp.org/en/stable/",
        [
            ("aiohttp.ClientSession", "py:class", "client_reference.html"),
            # The class's own module, as signatures name it.
            (
                "aiohttp.client.ClientSession",
                "py:class",
                "client_reference.html#aiohttp.ClientSession",
            ),
            ("aiohttp.ClientTimeout", "py:class", "client_reference.html"),
            ("aiohttp.TCPConnector", "py:class", "client_reference.html"),
            ("aiohttp.TraceConfig", "py:class", "tracing_reference.html"),
            ("aiohttp.web.Application", "py:class", "web_reference.html"),
        ],
    ),
    "attrs": (
        "https://www.attrs.org/en/stable/",
        [
            ("attrs.frozen", "py:function", "api.html"),
            ("attrs.evolve", "py:function", "api.html"),
            ("attrs.asdict", "py:function", "api.html"),
        ],
    ),
    "starlette": (
        "https://www.starlette.io/",
        [
            ("starlette.requests.Request", "py:class", "requests/"),
            ("starlette.responses.StreamingResponse", "py:class", "responses/"),
        ],
    ),
    "redis": (
        "https://redis.readthedocs.io/en/stable/",
        [("redis.asyncio.client.Redis", "py:class", "connections.html#async-client")],
    ),
    "fastapi": (
        "https://fastapi.tiangolo.com/",
        [
            ("fastapi.routing.APIRouter", "py:class", "reference/apirouter/"),
            ("fastapi.applications.FastAPI", "py:class", "reference/fastapi/"),
        ],
    ),
}


def _write_inventory(name: str, entries: list[tuple[str, str, str]]) -> str:
    import zlib  # noqa: PLC0415

    # "$" at the end of a URI stands for the object's name (the anchor Sphinx gives it).
    lines = "".join(
        f"{obj} {role} 1 {page if '#' in page else page + '#$'} -\n" for obj, role, page in entries
    )
    header = f"# Sphinx inventory version 2\n# Project: {name}\n# Version: \n"
    header += "# The remainder of this file is compressed using zlib.\n"
    target = Path(__file__).parent / "_build" / "inventories" / f"{name}.inv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(header.encode() + zlib.compress(lines.encode()))
    return str(target)


intersphinx_mapping = {
    name: (base, _write_inventory(name, entries)) for name, (base, entries) in INVENTORIES.items()
}

nitpicky = True
# Names that appear in signatures but are not objects one can link to.
nitpick_ignore = [
    ("py:class", "JSON"),  # alias of typing.Any: "any value JSON can hold"
    ("py:class", "JSONObject"),
    ("py:class", "flowise_async._types.JSON"),
    ("py:class", "UploadType"),  # Literal of the upload types, spelled out in the docstring
    ("py:class", "T"),
    ("py:class", "flowise_async.sync.T"),  # the item type of SyncIterator
    ("py:class", "_Run"),
    # The batch classes' signatures and docstrings name private aliases and classes.
    ("py:class", "BatchInput"),
    ("py:class", "ProgressCallback"),
    ("py:class", "Predictions"),
    ("py:obj", "Prediction"),
    ("py:class", "Outcome"),  # the hooks' Literal of outcomes, spelled out in the docstrings
]
nitpick_ignore_regex = [
    # Private modules' names show in signatures (e.g. an attribute typed with a private alias).
    ("py:.*", r"flowise_async(\.\w+)*\._\w+.*"),
]

html_theme = "furo"
html_title = f"flowise_async {release}"
html_static_path = ["_static"]
# Long code lines and wide tables fit the page. Written in the form the HTML builder completes
# it to, so that an unchanged configuration is not reported as changed on the next build.
html_css_files = [("fit.css", {"priority": 800})]


def setup(app: Any) -> None:
    """Load the theme early: its options are then known when the saved build environment is
    compared with this configuration, so an unchanged configuration is not reported changed."""
    app.setup_extension("furo")
