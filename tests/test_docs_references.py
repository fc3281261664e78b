"""The code cites the project's own docs, never files outside the repository (issue #11)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
CLINICAL_SOURCES = ROOT / "docs" / "clinical-sources.md"
OUTSIDE = ("DOMAIN.md", "ARCHITECTURE.md", "../shared")
# "docs/clinical-sources.md §9 (Privacy) and §10 (Changes since the first wave)"
CITED = re.compile(
    r"docs/clinical-sources\.md((?: ?(?:,|/|-|–|and|or)? ?§\d+(?:\.\d+)? \([^)]*\))+)"
)
SECTION = re.compile(r"§(\d+(?:\.\d+)?) \(([^)]*)\)")


def _texts() -> list[tuple[Path, str]]:
    found = []
    for path in sorted(SRC.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        if any(part.endswith(".egg-info") for part in path.parts):  # built, not ours
            continue
        try:
            found.append((path, path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            continue
    return found


def _sections() -> dict[str, str]:
    """Section number -> title, as docs/clinical-sources.md heads them."""
    text = CLINICAL_SOURCES.read_text(encoding="utf-8")
    found = dict(re.findall(r"^## §(\d+) (.+)$", text, re.M))
    found.update(re.findall(r"^- \*\*§(\d+\.\d+) ([^*]+)\*\*", text, re.M))
    return {number: title.strip() for number, title in found.items()}


def test_no_file_in_src_cites_a_file_outside_the_repository():
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path, text in _texts()
        for number, line in enumerate(text.splitlines(), 1)
        if any(word in line for word in OUTSIDE)
    ]
    assert not found, (
        "cite docs/clinical-sources.md or docs/architecture.md instead "
        f"(/work/split/domain_refs.py rewrites these): {found}"
    )


def test_every_section_the_code_cites_is_in_the_clinical_sources_under_its_title():
    cited = {
        (number, title)
        for _path, text in _texts()
        for match in CITED.finditer(text)
        for number, title in SECTION.findall(match[1])
    }
    assert {number for number, _title in cited} >= {"1", "2", "4.1", "5", "6.1", "10"}
    sections = _sections()
    wrong = sorted(f"§{n} ({t})" for n, t in cited if sections.get(n) != t)
    assert not wrong, f"not a section of docs/clinical-sources.md: {wrong}"
