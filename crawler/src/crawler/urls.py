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
