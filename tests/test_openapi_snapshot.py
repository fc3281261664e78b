"""The API as documented is committed: any change to a route, a schema or a status code
shows up as a diff of tests/snapshots/openapi.json in review.

After an intended change: `make openapi-snapshot` (and commit the file).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

SNAPSHOT = Path(__file__).parent / "snapshots" / "openapi.json"
SRC = Path(__file__).resolve().parents[1] / "src" / "ketaclinic"


def _text(document: dict) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def test_the_openapi_document_matches_the_committed_snapshot(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    current = _text(response.json())
    if os.environ.get("KETACLINIC_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), "no snapshot yet: run `make openapi-snapshot`"
    assert current == SNAPSHOT.read_text(), (
        "The API changed. If you meant it: `make openapi-snapshot`, then commit "
        "tests/snapshots/openapi.json (the diff is the API change)."
    )


def test_no_two_api_schemas_share_a_name():
    # The OpenAPI document names schemas by class name: two classes of one name would be
    # documented as one, and a client would validate an answer against the wrong shape.
    names = Counter(
        match
        for path in SRC.rglob("*.py")
        for match in re.findall(r"^class (\w+(?:In|Out))\b", path.read_text(), re.M)
    )
    assert [name for name, count in names.items() if count > 1] == []
