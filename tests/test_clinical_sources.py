"""docs/clinical-sources.md lists every source key the clinical data files cite."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLINICAL = ROOT / "src" / "ketaclinic" / "clinical"
DOC = ROOT / "docs" / "clinical-sources.md"

# A key is upper-case words joined by hyphens (COHEN-2018, SPRAVATO-LABEL), or DOMAIN.md.
KEY = re.compile(r"\b[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+\b|\bDOMAIN\.md\b")
SOURCE_LINE = re.compile(r"source:\s*(.+)")


def cited_keys() -> set[str]:
    keys: set[str] = set()
    for path in CLINICAL.rglob("*.yaml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = SOURCE_LINE.search(line)
            if match:
                # Parenthesised notes name instruments (PHQ-9), not sources.
                cited = re.sub(r"\([^)]*\)", "", match.group(1))
                keys.update(KEY.findall(cited))
    return keys


def listed_keys() -> set[str]:
    rows = re.findall(r"^\| ([A-Z][A-Za-z0-9.-]+) \|", DOC.read_text(encoding="utf-8"), re.M)
    return set(rows)


def test_the_data_files_cite_sources():
    assert {"SPRAVATO-LABEL", "COHEN-2018", "APA-2017"} <= cited_keys()


def test_every_cited_source_key_is_in_the_source_list():
    missing = cited_keys() - listed_keys()
    assert not missing, f"cite these in docs/clinical-sources.md's source list: {sorted(missing)}"
