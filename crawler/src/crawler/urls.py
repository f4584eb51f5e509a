"""URL normalisation for de-duplication."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRACKING = re.compile(r"^(utm_[a-z]+|gclid|fbclid|mc_eid|mc_cid)$", re.IGNORECASE)


@lru_cache(maxsize=200_000)
def normalize_url(url: str, base: str | None = None) -> str | None:
    """Absolute, lower-case scheme/host, no default port, no fragment, sorted
    query without tracking parameters, resolved dot segments. None for
    non-http(s) links (mailto:, javascript:, ...)."""
    url = url.strip()
    if base:
        url = urljoin(base, url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return None
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = quote(unquote(_remove_dot_segments(parts.path)), safe="/%:@!$&'()*+,;=-._~") or "/"
    query = ""
    if parts.query:
        pairs = [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING.match(k)
        ]
        query = urlencode(sorted(pairs))
    return urlunsplit((scheme, netloc, path, query, ""))


# A base URL of scheme, host (group "origin") and a path (group "dir" up to
# its last "/"), perhaps with a query or fragment; no whitespace anywhere.
_BASE = re.compile(
    r"(?P<dir>(?P<origin>[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+)/(?:[^?#\s]*/)?)"
    r"[^/?#\s]*(?:[?#]\S*)?"
)
# What a reference (fragment cut, no whitespace: nothing urlsplit would strip
# or remove) needs of the base, by its kind (RFC 3986 5.2.2):
_REF = re.compile(
    # a path, relative: no scheme (no ":" before the first "/" or "?"), not
    # "/..." or "//...", not a query alone (that keeps the base's path):
    # the base's directory
    r"(?P<dir>[A-Za-z0-9._~%!$&'()*+,=@-][^:/?#\s]*(?:[/?][^#\s]*)?)"
    # "/path": the base's scheme and host
    r"|(?P<origin>/(?:[^/#\s][^#\s]*)?)"
    # "scheme://host...": nothing of the base
    r"|(?P<none>[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s][^#\s]*)"
)


def _without_fragment(href: str) -> str:
    """href (stripped) without its fragment, when that changes nothing but
    the fragment: not when whitespace would end up at its end."""
    cut, sep, _ = href.partition("#")
    return href if not sep or (cut and cut[-1].isspace()) else cut


def page_links(hrefs, base: str) -> list[str]:
    """The links of a page: normalize_url(href, base) of each href, each
    result once, in the order of first appearance, None left out.

    Built for pages with hundreds of links: a fragment is cut before the
    join (normalize_url drops it anyway), a repeated href is resolved once,
    and each href is joined to only the part of the base it depends on (the
    directory, the origin, or nothing), so that normalize_url's cache
    answers it for every page of that directory, site, or crawl."""
    m = _BASE.fullmatch(base)
    keys = {"dir": m.group("dir"), "origin": m.group("origin") + "/", "none": ""} if m else {}
    out: dict[str, None] = {}
    for href in dict.fromkeys(_without_fragment(h.strip()) for h in hrefs):
        kind = _REF.fullmatch(href) if m else None
        n = normalize_url(href, keys[kind.lastgroup] if kind else base)
        if n is not None:
            out[n] = None
    return list(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4."""
    if "." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")
    for seg in segments:
        if seg == "..":
            if len(out) > 1:
                out.pop()
        elif seg != ".":
            out.append(seg)
    if segments[-1] in (".", ".."):
        out.append("")
    return "/".join(out)


def host_of(url: str) -> str:
    return urlsplit(url).netloc
