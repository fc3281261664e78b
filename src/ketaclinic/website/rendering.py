"""Markdown-lite for comments: escaped first, then **bold**, *italic* and paragraphs, then
sanitised by nh3 so that nothing but those tags can come out."""

from __future__ import annotations

import re

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {"p", "br", "strong", "em"}


def comment_html(text: str) -> SafeString:
    escaped: str = escape(text.replace("\r\n", "\n"))
    escaped = re.sub(r"\*\*(\S(?:.*?\S)?)\*\*", r"<strong>\1</strong>", escaped)
    escaped = re.sub(r"(?<!\*)\*(\S(?:.*?\S)?)\*(?!\*)", r"<em>\1</em>", escaped)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", escaped) if p.strip()]
    html = "".join("<p>" + p.replace("\n", "<br>") + "</p>" for p in paragraphs)
    return mark_safe(nh3.clean(html, tags=ALLOWED_TAGS, attributes={}))  # noqa: S308 - sanitised
