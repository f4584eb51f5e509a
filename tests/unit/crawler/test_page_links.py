"""urls.page_links, the fast path of a page's links, gives what resolving
every href with normalize_url gives: same links, same order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.urls import normalize_url, page_links


def reference(hrefs, base):
    out = []
    for href in hrefs:
        n = normalize_url(href, base)
        if n is not None and n not in out:
            out.append(n)
    return out


# pieces that exercise what the fast path decides on: schemes, ":", "/",
# "//", "?", "#", ";", dot segments, whitespace and control characters
PIECES = [
    "a",
    "b.html",
    "x",
    "/",
    "//",
    "../",
    "./",
    "..",
    ".",
    "?",
    "q=1",
    "&utm_source=z",
    "#",
    "frag",
    ":",
    "http:",
    "https://",
    "mailto:",
    "h2",
    ";p",
    " ",
    "\t",
    "\n",
    "\x01",
    "%41",
    "%2F",
    "é",
    "~",
    "@",
    "\\",
    "[::1]",
    ":8080",
]
PREFIXES = [
    "",
    "/",
    "//",
    "http://h/",
    "https://h2",
    "HTTP://H:80/",
    "http:",
    "http:///",
    "x:",
    "?",
]
href = st.builds(
    lambda prefix, tail: prefix + "".join(tail),
    st.sampled_from(PREFIXES),
    st.lists(st.sampled_from(PIECES), max_size=6),
)
hrefs = st.lists(href, max_size=12)
bases = st.sampled_from(
    [
        "http://h/",
        "http://h/a/b.html",
        "http://h/a/b/",
        "http://h:8080/a/b;p?x=1#f",
        "http://h/a/b?q=/c/d",
        "http://h/a/b#/c/d",
        "http://h",
        "HTTP://H/A/./b/../c.html",
        "https://u@h/a%2Fb/c",
        "http://h/a b/c.html",
        "http://h/a/b.html\t",
        "mailto:x@h",
        "http://[::1]:9/a/b",
        "file:///x/y",
    ]
)


@settings(max_examples=3000, deadline=None)
@given(hrefs, bases)
def test_page_links_matches_normalize_url_href_by_href(hs, base):
    assert page_links(hs, base) == reference(hs, base)


def test_page_links_on_a_sphinx_page():
    base = "http://127.0.0.1:8000/c0/library/os.html"
    hs = [
        "#os.open",
        "intro.html",
        "intro.html#x",
        "../glossary.html",
        "",
        "os.html",
        "/x.html",
        "https://peps.python.org/pep-0475/#x",
        "mailto:a@b.c",
    ]
    assert page_links(hs, base) == [
        base,
        "http://127.0.0.1:8000/c0/library/intro.html",
        "http://127.0.0.1:8000/c0/glossary.html",
        "http://127.0.0.1:8000/x.html",
        "https://peps.python.org/pep-0475/",
    ]
