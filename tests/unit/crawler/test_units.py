"""Fast checks of the crawler's pure parts (no servers)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from crawler.engine import content_hash, process_page
from crawler.errors import (
    ERROR_CODES,
    CrawlError,
    ErrorCode,
    classify_exception,
    classify_status,
    looks_blocked,
)
from crawler.extract import extract, needs_javascript, parse_html
from crawler.fetch.static import DomainGate, backoff_delay, parse_retry_after
from crawler.healing import Diagnosis, HealingEngine
from crawler.models import FieldSpec, SourceIn, load_sources_yaml
from crawler.storage import Spool
from crawler.urls import normalize_url

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "raw, expected",
    [
        (
            "HTTP://Example.COM:80/a/./b/../c?b=2&a=1&utm_source=x#frag",
            "http://example.com/a/c?a=1&b=2",
        ),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/x%7e", "https://example.com:8443/x~"),
        ("http://[::FFFF:127.0.0.1]:9/a", "http://[::ffff:127.0.0.1]:9/a"),
        ("mailto:a@b.c", None),
        ("javascript:void(0)", None),
    ],
)
def test_normalize_url(raw, expected):
    assert normalize_url(raw) == expected


def test_normalize_relative_link():
    assert normalize_url("../d?x=1#y", "http://h/a/b/c") == "http://h/a/d?x=1"


@pytest.mark.parametrize(
    "status, code",
    [
        (401, "E003"),
        (403, "E003"),
        (429, "E004"),
        (500, "E005"),
        (503, "E005"),
        (404, "E011"),
        (410, "E011"),
        (400, "E010"),
        (200, None),
    ],
)
def test_classify_status(status, code):
    assert classify_status(status) == code


def test_classify_exceptions():
    import aiohttp
    from pymongo.errors import ServerSelectionTimeoutError
    from selenium.common.exceptions import WebDriverException

    assert classify_exception(TimeoutError()) == ErrorCode.TIMEOUT
    assert classify_exception(ConnectionRefusedError()) == ErrorCode.CONNECTION
    assert classify_exception(aiohttp.ClientConnectionError()) == ErrorCode.CONNECTION
    assert classify_exception(ServerSelectionTimeoutError("x")) == ErrorCode.STORAGE
    assert classify_exception(WebDriverException("x")) == ErrorCode.BROWSER
    assert classify_exception(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad")) == ErrorCode.PARSE
    assert classify_exception(KeyError("x")) == ErrorCode.UNKNOWN


def test_bot_check_detection():
    assert looks_blocked("<html><body>Please verify you are human</body></html>")
    assert not looks_blocked("<html><body><h1>Manual</h1></body></html>")


def test_error_code_table_documented():
    doc = (REPO / "docs" / "error-codes.md").read_text()
    for code in ERROR_CODES:
        assert re.search(rf"^\| {code} \|", doc, re.M), f"{code} missing from docs/error-codes.md"
    assert [str(c) for c in ErrorCode] == [f"E{i:03d}" for i in range(1, 15)]
    # the API's ?code= filter accepts every code and nothing past the last one
    from crawler.errors import CODE_PATTERN

    assert all(re.match(CODE_PATTERN, str(c)) for c in ErrorCode)
    assert not re.match(CODE_PATTERN, f"E{len(ErrorCode) + 1:03d}")


def test_retry_after_parsing():
    assert parse_retry_after("7") == 7.0
    future = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 <= parse_retry_after(format_datetime(future, usegmt=True)) <= 31
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_grows_with_jitter_and_cap():
    samples = [backoff_delay(3, base=0.5) for _ in range(200)]
    assert all(2.0 <= s <= 4.0 for s in samples) and len(set(samples)) > 100
    assert all(backoff_delay(20, base=0.5, cap=30) <= 30 for _ in range(50))


def test_domain_gate_spaces_request_starts():
    async def go():
        gate = DomainGate(concurrency=4, delay=0.2)
        starts = []

        async def one():
            async with gate:
                starts.append(time.monotonic())

        await asyncio.gather(*(one() for _ in range(3)))
        return sorted(starts)

    s = asyncio.run(go())
    assert s[1] - s[0] >= 0.19 and s[2] - s[1] >= 0.19


HTML = """<html><body><h2 class="headline">New title</h2><div class="c">  some
 text </div><a href="/x">x</a><a href="/y#z">y</a><ul><li>a</li><li>b</li></ul>
<img src="/i.png" alt="pic"></body></html>"""


def test_extract_fallbacks_xpath_attr_many():
    doc = parse_html(HTML, "http://h/p")
    specs = {
        "title": FieldSpec(selector="h1.title", fallbacks=["h2.headline"]),
        "text": FieldSpec(selector="//div[@class='c']/text()", type="xpath"),
        "img": FieldSpec(selector="img", attr="src"),
        "items": FieldSpec(selector="li", many=True),
        "price": FieldSpec(selector=".price", required=False),
        "must": FieldSpec(selector=".nothing"),
    }
    ex = extract(doc, specs)
    assert ex.fields["title"] == "New title" and ex.used["title"] == "h2.headline"
    assert ex.fields["text"] == "some text" and ex.fields["img"] == "/i.png"
    assert ex.fields["items"] == ["a", "b"] and ex.fields["price"] is None
    assert ex.missing == ["must"]
    # the remembered selector goes first
    assert extract(doc, specs, preferred={"title": "h2.headline"}).used["title"] == "h2.headline"


def test_process_page_filters_and_normalises_links():
    import json

    fields = json.dumps({"t": FieldSpec(selector="h2").model_dump(mode="json")})
    rules = json.dumps({"allow": [], "deny": [r"/y"]})
    out = process_page(HTML, "http://h/p", fields, {}, True, rules, ("h",))
    assert out["links"] == ["http://h/x"] and out["fields"] == {"t": "New title"}


def test_needs_javascript_heuristic():
    spa = '<html><body><div id="root"></div><script>render()</script></body></html>'
    doc = parse_html(spa, "http://h/")
    ex = extract(doc, {"t": FieldSpec(selector="h1")})
    assert needs_javascript(ex, spa)
    plain = "<html><body>" + "<p>words</p>" * 100 + "</body></html>"
    ex2 = extract(parse_html(plain, "http://h/"), {"t": FieldSpec(selector="h1")})
    assert not needs_javascript(ex2, plain)


def test_unparseable_body_is_e007():
    with pytest.raises(CrawlError) as exc:
        parse_html("   ", "http://h/")
    assert exc.value.code == ErrorCode.PARSE


def test_content_hash_is_stable():
    assert content_hash({"a": 1, "b": "x"}) == content_hash({"b": "x", "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


def test_source_validation_names_fields():
    good = {"name": "s1", "start_urls": ["http://h/"], "fields": {"t": {"selector": "h1"}}}
    assert SourceIn.model_validate(good).schedule == "@daily"
    for bad, loc in [
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"name": "S 1"}, "name"),
        ({"fields": {"t": {"selector": "//[", "type": "xpath"}}}, "fields"),
        ({"links": {"allow": ["("]}}, "links"),
        ({"mode": "x"}, "mode"),
    ]:
        with pytest.raises(ValidationError) as exc:
            SourceIn.model_validate({**good, **bad})
        assert exc.value.errors()[0]["loc"][0] == loc


def test_yaml_loader_reports_every_bad_entry():
    text = """sources:
  - {name: a, start_urls: ["http://h/"], fields: {t: {selector: h1}}}
  - {name: b, start_urls: [], fields: {t: {selector: h1}}}
  - {name: c, start_urls: ["http://h/"], fields: {t: {selector: h1}}, politeness: {delay_seconds: -1}}
"""
    with pytest.raises(ValueError) as exc:
        load_sources_yaml(text)
    msg = str(exc.value)
    assert "sources[1] (b).start_urls" in msg and "sources[2] (c).politeness.delay_seconds" in msg


def test_healing_plan_follows_rules_and_extension_point():
    class Advisor:
        def suggest(self, d):
            return ["ask_ai"] if d.code == ErrorCode.SELECTOR_ROT else []

    eng = HealingEngine(None, advisors=None)
    d = Diagnosis(ErrorCode.SELECTOR_ROT, "s", "E006|s|t|h1")
    assert eng.plan(d) == ["fallback_selector", "switch_to_browser"]
    assert eng.plan(Diagnosis(ErrorCode.RATE_LIMITED, "s", "p")) == ["slow_down"]
    assert eng.plan(Diagnosis(ErrorCode.STORAGE, "s", "p")) == ["spool_and_replay"]
    eng2 = HealingEngine(None, advisors=[*eng.advisors, Advisor()])
    assert eng2.plan(d)[-1] == "ask_ai"


def test_spool_is_durable_jsonl(tmp_path):
    sp = Spool(tmp_path / "spool")
    assert sp.size() == 0
    sp.append("result", [{"source": "s", "url": "u", "fetched_at": datetime.now(UTC)}])
    sp.append("error_logs", [{"_id": "e1"}, {"_id": "e2"}])
    assert sp.size() == 3 and len(sp.files()) == 1


def test_response_models_check_consumed_fields_and_keep_the_json():
    from datetime import UTC, datetime

    import pydantic
    from fastapi.encoders import jsonable_encoder

    from crawler.api.schemas import ErrorList

    ts = datetime(2026, 1, 31, 12, 0, 0, 123000, tzinfo=UTC)
    body = {
        "items": [
            {"ts": ts, "source": "s", "code": "E005", "url": None, "message": "m", "id": "1"},
        ],
        "limit": 20,
        "extra": {"nested": ts},
    }
    adapter = pydantic.TypeAdapter(ErrorList)
    dumped = adapter.dump_python(adapter.validate_python(body), mode="json")
    assert dumped == jsonable_encoder(body)
    assert list(dumped["items"][0]) == ["ts", "source", "code", "url", "message", "id"]
    assert dumped["items"][0]["ts"] == "2026-01-31T12:00:00.123000+00:00"
    del body["items"][0]["code"]
    with pytest.raises(pydantic.ValidationError):
        adapter.validate_python(body)


def test_a_backtracking_link_pattern_cannot_hang_a_crawl():
    """(a|aa)*$ takes Python's re exponential time on a long run of a's that
    ends in a mismatch; RE2 answers in linear time. The alarm turns a hang
    into a failure instead of a stuck test run."""
    import signal

    from crawler.pages import _link_filter

    ok = _link_filter(json.dumps({"allow": ["^https://x/(a|aa)*$"]}), ("x",))

    def hung(*_):
        raise AssertionError("the link filter hung on a backtracking pattern")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        assert ok("https://x/" + "a" * 60 + "!") is False
        assert ok("https://x/aaaa") is True
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_an_re2_refused_pattern_names_the_fix():
    from crawler.models import LinkRules

    with pytest.raises(ValueError, match="RE2 syntax: no backreferences"):
        LinkRules(allow=[r"(?=lookahead)"])
