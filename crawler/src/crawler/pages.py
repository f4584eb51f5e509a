"""The CPU part of a crawled page: parse, extract the fields, normalise and
filter the links. Module-level functions of plain arguments, so that a run can
hand them to worker processes (Crawler(parse_workers=N))."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from urllib.parse import urlsplit

from crawler.errors import looks_blocked
from crawler.extract import extract, needs_javascript, parse_html
from crawler.models import FieldSpec
from crawler.patterns import compile_pattern
from crawler.urls import page_links


@lru_cache(maxsize=64)
def _specs(fields_json: str) -> dict[str, FieldSpec]:
    return {k: FieldSpec.model_validate(v) for k, v in json.loads(fields_json).items()}


@lru_cache(maxsize=64)
def _link_filter(rules_json: str, hosts: tuple[str, ...]):
    rules = json.loads(rules_json)
    allow = [compile_pattern(p) for p in rules.get("allow", [])]
    deny = [compile_pattern(p) for p in rules.get("deny", [])]

    def ok(url: str) -> bool:
        if deny and any(p.search(url) for p in deny):
            return False
        if allow:
            return any(p.search(url) for p in allow)
        return urlsplit(url).netloc in hosts

    # Pages of one site link the same URLs over and over: each is judged once.
    return lru_cache(maxsize=200_000)(ok)


def process_page(
    text: str,
    url: str,
    fields_json: str,
    preferred: dict[str, str],
    follow: bool,
    rules_json: str,
    hosts: tuple[str, ...],
) -> dict:
    """CPU part of a page (parse, extract, normalise and filter links).
    Top-level so it can run in a worker process."""
    doc = parse_html(text, url)
    ex = extract(doc, _specs(fields_json), preferred, with_links=follow)
    links: list[str] = []
    if follow:
        ok = _link_filter(rules_json, hosts)
        links = [n for n in page_links(ex.links, url) if ok(n)]
    out = {
        "fields": ex.fields,
        "used": ex.used,
        "missing": ex.missing,
        "links": links,
        "needs_js": bool(ex.missing) and needs_javascript(ex, text),
        "blocked": bool(ex.missing) and looks_blocked(text),
    }
    return out


def content_hash(fields: dict) -> str:
    return hashlib.sha256(
        json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
