"""axe-core accessibility checks in the browser tests (WCAG 2.2 AA rules).

`make axe-core` installs the pinned axe-core under tests/a11y; `.ci/run` requires it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

AXE_JS = Path(__file__).resolve().parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def serious_violations(page) -> list[dict]:
    """The page's serious and critical axe violations, each with the nodes it found."""
    if not AXE_JS.exists():
        if os.environ.get("KETACLINIC_REQUIRE_BROWSER"):
            pytest.fail(f"{AXE_JS} is missing: run `make axe-core`")
        pytest.skip(f"accessibility checks need axe-core at {AXE_JS} (make axe-core)")
    # Evaluated through the DevTools protocol, which the page's CSP does not govern
    # (an injected <script> tag would be refused by script-src 'self').
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_JS.read_text() + "\n;undefined")
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def assert_accessible(page) -> None:
    """Fail with a readable list when axe finds any serious or critical violation."""
    found = serious_violations(page)
    assert not found, "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:5])
        for v in found
    )
