"""Link patterns an operator writes (`links.allow`, `links.deny`), compiled
with RE2: matching takes time linear in the URL's length whatever the
pattern, so a pattern such as ``(a+)+$`` cannot hang a crawl the way
Python's backtracking ``re`` would. RE2 has no backreferences or lookaround;
such a pattern is refused when the source is saved."""

from __future__ import annotations

import re2

_OPTIONS = re2.Options()
# A refused pattern is reported to the operator (422), not logged by the C++ library.
_OPTIONS.log_errors = False

RE2_HINT = (
    "link patterns use RE2 syntax: no backreferences (\\1) and no lookaround ((?=...), (?!...))"
)


def compile_pattern(pattern: str):
    """The compiled pattern; ValueError naming the pattern and the fix."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(f"invalid regex {pattern!r}: {reason}; {RE2_HINT}") from exc
