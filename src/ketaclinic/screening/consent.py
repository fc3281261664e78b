"""Consent templates (versioned Markdown shipped as data) and the PDF of what was signed.

Each file in consent_templates/ (and in the clinic's KETACLINIC_DATA_DIR/consent_templates)
has YAML front matter (family, version, title, off_label, rems, risks: [{id, text}])
and a Markdown body in which ``{{ clinic_name }}`` is replaced by the clinic's name. A newer version of a family
is a new file with a higher `version`; new signatures use the highest version, and
every consent stores the exact text it was signed with.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ketaclinic.datadirs import clinic_data_dirs

if TYPE_CHECKING:
    from reportlab.lib.styles import StyleSheet1  # imported when a PDF is made

TEMPLATES_DIR = Path(__file__).resolve().parent / "consent_templates"
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n(.*)\Z", re.DOTALL)
FAMILIES = ("esketamine-nasal", "ketamine-iv-mood", "ketamine-im-mood", "ketamine-iv-pain")


class TemplateError(ValueError):
    """A consent template file that cannot be used; names the file."""


@dataclass(frozen=True, slots=True)
class Risk:
    id: str
    text: str


@dataclass(frozen=True, slots=True)
class ConsentTemplate:
    family: str
    version: int
    title: str
    off_label: bool
    rems: bool
    risks: tuple[Risk, ...]
    body: str

    @property
    def key(self) -> str:
        return self.family

    def render(self, clinic_name: str) -> str:
        """Return the Markdown text with the clinic's name filled in."""
        return self.body.replace("{{ clinic_name }}", clinic_name).strip() + "\n"


def load_template_file(path: Path) -> ConsentTemplate:
    """Return the validated template in one file; raise TemplateError naming the file."""
    match = FRONT_MATTER.match(path.read_text(encoding="utf-8"))
    if not match:
        raise TemplateError(f"{path}: missing --- front matter ---")
    meta = yaml.safe_load(match[1])
    try:
        family, version, title = meta["family"], meta["version"], meta["title"]
        risks = tuple(Risk(str(r["id"]), str(r["text"])) for r in meta["risks"])
    except (KeyError, TypeError) as exc:
        raise TemplateError(f"{path}: front matter needs family, version, title, risks") from exc
    return checked_template(
        family=family,
        version=version,
        title=str(title),
        off_label=bool(meta.get("off_label", False)),
        rems=bool(meta.get("rems", False)),
        risks=risks,
        body=match[2],
        where=str(path),
    )


def checked_template(
    *,
    family: str,
    version: int,
    title: str,
    off_label: bool,
    rems: bool,
    risks: tuple[Risk, ...],
    body: str,
    where: str,
) -> ConsentTemplate:
    """Return the template if it may be signed; raise TemplateError naming `where` if not.

    The same checks for a shipped file, a clinic's file and a clinic's own copy edited
    in the browser (screening/clinic_consent.py).
    """
    if family not in FAMILIES:
        raise TemplateError(f"{where}: unknown family {family!r}")
    if not isinstance(version, int) or version < 1:
        raise TemplateError(f"{where}: version must be a positive whole number")
    if not risks or len({r.id for r in risks}) != len(risks):
        raise TemplateError(f"{where}: risks must be a non-empty list with unique ids")
    # Clinical safety: racemic ketamine consents must say the use is off-label, and the
    # esketamine consent must carry the REMS enrollment acknowledgement.
    if family != "esketamine-nasal" and not (off_label and "off-label" in body):
        raise TemplateError(f"{where}: racemic ketamine consent must state the off-label use")
    if family == "esketamine-nasal" and not (
        rems and any(r.id == "rems_enrollment" for r in risks)
    ):
        raise TemplateError(f"{where}: esketamine consent must include the REMS enrollment")
    return ConsentTemplate(family, version, title, off_label, rems, risks, body)


def _newest(paths: list[Path], found: dict[str, ConsentTemplate]) -> None:
    for path in paths:
        template = load_template_file(path)
        current = found.get(template.family)
        if current is None or template.version > current.version:
            found[template.family] = template


@functools.cache
def _shipped() -> dict[str, ConsentTemplate]:
    found: dict[str, ConsentTemplate] = {}
    _newest(sorted(TEMPLATES_DIR.glob("*.md")), found)
    return found


def load_templates() -> dict[str, ConsentTemplate]:
    """Return family -> the highest version of its template, shipped or the clinic's own.

    The clinic's directory (KETACLINIC_DATA_DIR/consent_templates) is read on every
    call, like its rule files; a clinic template replaces the shipped one of its
    family only when its `version` is higher, and is validated the same way (an
    invalid file raises TemplateError naming it).
    """
    found = dict(_shipped())
    for folder in clinic_data_dirs("consent_templates"):
        _newest(sorted(folder.glob("*.md")), found)
    return found


# --- PDF -------------------------------------------------------------------------------


def _inline(text: str) -> str:
    from xml.sax.saxutils import escape

    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escape(text))


def _markdown_flowables(text: str, styles: StyleSheet1) -> list:
    """Paragraphs and headings of our small Markdown subset, as reportlab flowables."""
    from reportlab.platypus import Paragraph

    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.strip().splitlines()
        if not lines:
            continue
        first = lines[0]
        if first.startswith("# "):
            out.append(Paragraph(_inline(first[2:]), styles["Title"]))
        elif first.startswith("## "):
            out.append(Paragraph(_inline(first[3:]), styles["Heading2"]))
        else:
            out.append(
                Paragraph(_inline(" ".join(line.strip() for line in lines)), styles["BodyText"])
            )
    return out


@dataclass(frozen=True, slots=True)
class SignedFacts:
    """Everything printed under the text: who signed, when, what was ticked, the witness."""

    patient_name: str
    mrn: str
    birth_date: str
    signed_name: str
    signed_at: datetime
    ip: str
    via: str
    witness_name: str
    ticked: tuple[str, ...]
    template_family: str
    template_version: int
    consent_valid_to: str


def render_pdf(*, title: str, text: str, facts: SignedFacts) -> bytes:
    """Return the PDF of exactly what was signed: the text, ticked risks, name, time, witness."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    # invariant=1 keeps the bytes reproducible (no creation time or random id).
    doc = SimpleDocTemplate(
        buffer,
        pagesize=letter,
        title=title,
        author="ketaclinic",
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        invariant=1,
        # Uncompressed, so the signed text can be checked (and found by a search) as is.
        pageCompression=0,
    )
    story = _markdown_flowables(text, styles)
    story.append(Spacer(1, 6 * mm))
    story.append(Paragraph("Acknowledgements", styles["Heading2"]))
    for risk in facts.ticked:
        story.append(Paragraph(f"[x] {_inline(risk)}", styles["BodyText"]))
    story.append(Spacer(1, 6 * mm))
    story.append(Paragraph("Signature", styles["Heading2"]))
    rows = [
        ("Patient", f"{facts.patient_name} (MRN {facts.mrn}, born {facts.birth_date})"),
        ("Signed by typing the full name", facts.signed_name),
        ("Signed at", facts.signed_at.strftime("%Y-%m-%d %H:%M %Z")),
        ("From address", facts.ip or "not recorded"),
        ("Signed via", facts.via),
        ("Witness", facts.witness_name or "none (signed remotely)"),
        # The form's own title, as the patient read it; the version makes it the exact text.
        ("Consent form", f"{title}, version {facts.template_version}"),
        ("Valid to", facts.consent_valid_to),
    ]
    for label, value in rows:
        story.append(Paragraph(f"<b>{_inline(label)}:</b> {_inline(value)}", styles["BodyText"]))
    doc.build(story)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def to_html(text: str) -> str:
    """Return our small Markdown subset (headings, paragraphs, **bold**) as escaped HTML."""
    parts = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.strip().splitlines()
        if not lines:
            continue
        first = lines[0]
        if first.startswith("# "):
            parts.append(f"<h2>{_inline(first[2:])}</h2>")
        elif first.startswith("## "):
            parts.append(f"<h3>{_inline(first[3:])}</h3>")
        else:
            parts.append(f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>")
    return "\n".join(parts)
