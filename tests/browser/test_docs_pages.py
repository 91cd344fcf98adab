"""The built documentation in Chromium: no guide page overflows sideways at 1280 px."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


pytest.importorskip("playwright.async_api", reason="needs playwright (nox -s browser)")
pytest.importorskip("sphinx", reason="needs the docs extra")

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDES = sorted(path.stem for path in DOCS.glob("*.md"))


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML documentation, built afresh from this tree."""
    out = tmp_path_factory.mktemp("docs-html")
    subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(DOCS), str(out)],
        check=True,
        timeout=600,
    )
    return out


async def test_no_guide_page_overflows_at_1280px(browser: Any, built_docs: Path) -> None:
    """``scrollWidth <= clientWidth`` for the body of every guide page."""
    assert len(GUIDES) >= 10
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    too_wide = {}
    for name in GUIDES:
        await page.goto((built_docs / f"{name}.html").as_uri())
        widths = await page.evaluate("() => [document.body.scrollWidth, document.body.clientWidth]")
        if widths[0] > widths[1]:
            too_wide[name] = widths
    await page.close()
    assert too_wide == {}, f"pages wider than the window (scrollWidth, clientWidth): {too_wide}"
