"""The corpora of the static crawl benchmark, each with the fields and link
rules both crawlers are given: the synthetic documentation site of
crawl_common.make_corpus, and real Sphinx HTML that a Debian package ships
(python3.11-doc), so that the figure is taken on pages of real size and shape."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from crawl_common import make_corpus

PYTHON_DOCS = Path("/usr/share/doc/python3.11/html")
PYTHON_DOCS_PACKAGE = "python3.11-doc"


@dataclass
class Corpus:
    name: str
    root: Path
    start_path: str  # where both crawlers start, relative to the server root
    fields: dict  # crawler FieldSpec dicts; the Scrapy spider reads the same
    deny: list[str] = field(default_factory=list)  # link patterns neither crawler follows
    max_depth: int = 5
    info: dict = field(default_factory=dict)

    def describe(self) -> str:
        return self.info["description"]


# The synthetic site (make_corpus): every page has these elements.
SYNTHETIC_FIELDS = {
    "title": {"selector": "h1.title"},
    "body": {"selector": "div.content", "required": False},
    "updated": {"selector": "span.updated", "required": False},
    "breadcrumb": {"selector": "nav.breadcrumb a", "many": True, "required": False},
}

# What one would take from a Sphinx page: its title, the text of the main
# part (the classic theme's div.body; newer themes mark it role=main), every
# section heading, and the footer's "Last updated" line.
SPHINX_FIELDS = {
    "title": {"selector": "h1"},
    "body": {"selector": "div.body", "fallbacks": ["div[role=main]"], "required": False},
    "headings": {"selector": "div.body h2, div.body h3", "many": True, "required": False},
    "updated": {"selector": "div.footer", "required": False},
}
# Sphinx output that is not a documentation page (static files, downloads,
# the search page that only works with JavaScript).
SPHINX_DENY = [r"/_static/", r"/_downloads/", r"/_images/", r"/_sources/", r"/search\.html"]


def synthetic(work: Path, sections: int = 24, per_section: int = 100) -> Corpus:
    root = work / "site"
    info = make_corpus(root, sections, per_section)
    info["description"] = (
        f"synthetic: {info['pages']} pages ({info['doc_pages']} documentation pages, 2 index "
        f"pages with {info['doc_pages']} links each), {info['bytes'] / 1e6:.1f} MB of HTML"
    )
    return Corpus("synthetic", root, "index.html", SYNTHETIC_FIELDS, deny=[r"/private/"], info=info)


class MissingPackage(RuntimeError):
    pass


def python_docs(work: Path, copies: int = 4) -> Corpus:
    """The Python 3.11 documentation as Debian ships it, `copies` times under
    /c0/, /c1/, ... (one copy is 530 pages, a few seconds of crawling: more
    copies give a steadier figure), and a start page linking each copy."""
    if not (PYTHON_DOCS / "index.html").is_file():
        raise MissingPackage(
            f"{PYTHON_DOCS} is missing: install the real-documentation corpus with "
            f"`apt-get install {PYTHON_DOCS_PACKAGE}` (or run with --corpus synthetic)"
        )
    root = work / "docs-site"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for k in range(copies):
        # symlinks=True: the package links jquery.js etc. into /usr/share/javascript
        shutil.copytree(PYTHON_DOCS, root / f"c{k}", symlinks=True)
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    (root / "index.html").write_text(
        "<html><body><h1>Python documentation copies</h1><div class='body'>"
        + "".join(f'<p><a href="/c{k}/index.html">copy {k}</a></p>' for k in range(copies))
        + "</div></body></html>"
    )
    pages = sorted(root.rglob("*.html"))
    sizes = [p.stat().st_size for p in pages]
    info = {
        "pages": len(pages),
        "copies": copies,
        "bytes": sum(sizes),
        "avg_page_bytes": sum(sizes) / len(sizes),
        "description": (
            f"python-docs: {PYTHON_DOCS} ({PYTHON_DOCS_PACKAGE}), {copies} copies, "
            f"{len(pages)} HTML files, {sum(sizes) / 1e6:.1f} MB, "
            f"{sum(sizes) / len(sizes) / 1e3:.0f} KB a page on average"
        ),
    }
    return Corpus("python-docs", root, "index.html", SPHINX_FIELDS, deny=SPHINX_DENY, info=info)


CORPORA = {"python-docs": python_docs, "synthetic": synthetic}


def page_bytes(root: Path, base: str, urls) -> int:
    """HTML bytes behind the stored URLs: what a crawler fetched and kept."""
    total = 0
    for url in urls:
        rel = url[len(base) :].lstrip("/") or "index.html"
        p = root / rel
        if p.is_dir():
            p = p / "index.html"
        if p.is_file():
            total += p.stat().st_size
    return total
