"""Field and link extraction with lxml (CSS via cssselect, or XPath)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from lxml import etree, html
from lxml.cssselect import CSSSelector

from crawler.errors import CrawlError, ErrorCode
from crawler.models import FieldSpec


@lru_cache(maxsize=4096)
def _compiled(kind: str, selector: str):
    return CSSSelector(selector) if kind == "css" else etree.XPath(selector)


# plain str results: lxml's default "smart strings" carry a reference to
# their element, which costs time on a page with hundreds of links
_HREFS = etree.XPath("//a/@href", smart_strings=False)
_SCRIPTS = etree.XPath("//script")


@dataclass
class Extraction:
    fields: dict[str, object] = field(default_factory=dict)
    used: dict[str, str] = field(default_factory=dict)  # field -> selector that matched
    missing: list[str] = field(default_factory=list)  # required fields that came back empty
    links: list[str] = field(default_factory=list)
    # measured only when a required field is missing (see extract)
    text_length: int = 0
    script_count: int = 0


_UTF8_PARSER = html.HTMLParser(encoding="utf-8")


def parse_html(body: str | bytes, url: str):
    try:
        if not body.strip():
            raise CrawlError(ErrorCode.PARSE, "empty body", url=url)
        if isinstance(body, str):
            # lxml refuses str input carrying an XML encoding declaration, so
            # hand it UTF-8 bytes and say that they are UTF-8
            return html.document_fromstring(body.encode("utf-8"), parser=_UTF8_PARSER, base_url=url)
        return html.document_fromstring(body, base_url=url)
    except (etree.ParserError, ValueError) as exc:
        raise CrawlError(ErrorCode.PARSE, f"cannot parse HTML: {exc}", url=url) from exc


def _values(doc, kind: str, selector: str, attr: str | None) -> list[str]:
    out: list[str] = []
    for node in _compiled(kind, selector)(doc):
        if isinstance(node, str):  # XPath text()/@attr results
            value = str(node)
        elif attr:
            value = node.get(attr) or ""
        else:
            value = node.text_content()
        value = " ".join(value.split())
        if value:
            out.append(value)
    return out


def extract(
    doc,
    specs: dict[str, FieldSpec],
    preferred: dict[str, str] | None = None,
    with_links: bool = True,
) -> Extraction:
    """Try, per field: the selector that worked last time (preferred), the
    primary selector, then its fallbacks. Records which one matched."""
    result = Extraction()
    preferred = preferred or {}
    for name, spec in specs.items():
        order = [spec.selector, *spec.fallbacks]
        if preferred.get(name) in order:
            order.remove(preferred[name])
            order.insert(0, preferred[name])
        for sel in order:
            vals = _values(doc, spec.type, sel, spec.attr)
            if vals:
                result.fields[name] = vals if spec.many else vals[0]
                result.used[name] = sel
                break
        else:
            result.fields[name] = [] if spec.many else None
            if spec.required:
                result.missing.append(name)
    if with_links:
        result.links = _HREFS(doc)
    if result.missing:
        # what needs_javascript() weighs, asked only when a required field is
        # missing: two more walks of the tree are not paid on every page
        result.script_count = len(_SCRIPTS(doc))
        body = doc.find("body")
        result.text_length = len((body.text_content() if body is not None else "").strip())
    return result


def needs_javascript(ex: Extraction, raw: str) -> bool:
    """A page that loaded but shows little text and carries scripts (or a
    noscript hint) most likely renders its content client-side."""
    if ex.script_count == 0:
        return False
    return ex.text_length < 200 or "<noscript" in raw.lower()
