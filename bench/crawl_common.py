"""Shared pieces of the crawl benchmarks: a documentation-like corpus, a Go
static file server, FerretDB, a Selenium Grid."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The same local servers the integration tests start.
sys.path.insert(0, str(REPO / "tests"))
from local_servers import (  # noqa: E402
    FerretServer,
    SeleniumGrid,
    free_port,
    stop_processes,
    wait_port,
)

WORDS = [
    "configure",
    "cluster",
    "scheduler",
    "worker",
    "queue",
    "retry",
    "backoff",
    "selector",
    "schema",
    "index",
    "replica",
    "shard",
    "volume",
    "container",
    "network",
    "gateway",
    "timeout",
    "payload",
    "header",
    "cursor",
    "batch",
    "pipeline",
    "operator",
    "task",
    "backup",
    "restore",
    "metric",
    "alert",
    "dashboard",
    "token",
    "session",
    "browser",
    "render",
    "request",
    "response",
    "cache",
]

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - ACS Manual</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/site.css"><script src="/static/site.js" defer></script></head>
<body><header class="top"><a class="brand" href="/index.html">ACS Manual</a>
<nav class="main">{topnav}</nav></header>
<nav class="breadcrumb"><a href="/index.html">Home</a> / <a href="/docs/{sec}/index.html">Section {sec}</a>
 / <span>{title}</span></nav>
<div class="layout"><aside class="sidebar"><ul>{sidebar}</ul></aside>
<main><article><h1 class="title">{title}</h1>
<p class="meta">Last updated <span class="updated">{updated}</span> by <span class="author">{author}</span></p>
<div class="content">{body}</div>
<footer class="pager">{pager}</footer></article></main></div>
<footer class="site">Copyright ACS contributors. <a href="/about.html">About</a></footer></body></html>
"""

JS_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>app {i}</title></head>
<body><div id="root"></div><noscript>needs JavaScript</noscript>
<script>
setTimeout(function () {{
  var r = document.getElementById('root');
  r.innerHTML = '<h1 class="title">Rendered page {i}</h1><div class="content">' +
    Array(40).join('client side text {i} ') + '</div>';
}}, 30);
</script></body></html>"""


def para(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_corpus(
    root: Path, sections: int = 24, per_section: int = 100, js_pages: int = 60, seed: int = 7
) -> dict:
    """sections*per_section documentation pages (~10 KB each, ~70 links), a
    section index per section, two index pages listing every page (thousands
    of links each), robots.txt, and JavaScript-rendered pages for the browser
    benchmark."""
    rng = random.Random(seed)
    if root.exists():
        shutil.rmtree(root)
    (root / "static").mkdir(parents=True)
    (root / "static" / "site.css").write_text("body{font-family:sans-serif}")
    (root / "static" / "site.js").write_text("/* nothing */")
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    (root / "about.html").write_text(
        "<html><body><h1 class='title'>About</h1><div class='content'>x</div></body></html>"
    )
    topnav = " ".join(f'<a href="/docs/{s}/index.html">Section {s}</a>' for s in range(sections))
    all_links = []
    for s in range(sections):
        d = root / "docs" / str(s)
        d.mkdir(parents=True)
        names = [f"page-{i}.html" for i in range(per_section)]
        for i, name in enumerate(names):
            title = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} guide {s}.{i}"
            side = "".join(
                f'<li><a href="/docs/{s}/{names[j]}">Topic {s}.{j}</a></li>'
                for j in range(max(0, i - 20), min(per_section, i + 20))
            )
            body = "".join(
                f"<h2 id='h{k}'>{para(rng, 4)}</h2><p>{para(rng, 60)}</p>"
                f"<pre><code>acs {rng.choice(WORDS)} --{rng.choice(WORDS)}={k}</code></pre>"
                f"<p>See <a href='/docs/{rng.randrange(sections)}/page-{rng.randrange(per_section)}.html'>"
                f"related</a> and <a href='#h{k}'>this</a>.</p>"
                for k in range(5)
            )
            pager = (f'<a rel="prev" href="/docs/{s}/{names[i - 1]}">prev</a> ' if i else "") + (
                f'<a rel="next" href="/docs/{s}/{names[i + 1]}">next</a>'
                if i + 1 < per_section
                else ""
            )
            (d / name).write_text(
                PAGE.format(
                    title=title,
                    topnav=topnav,
                    sec=s,
                    sidebar=side,
                    updated=f"2026-0{1 + i % 9}-1{i % 10}",
                    author=rng.choice(["kim", "lee", "park", "choi"]),
                    body=body,
                    pager=pager,
                )
            )
            all_links.append(f"/docs/{s}/{name}")
        (d / "index.html").write_text(
            "<html><body><h1 class='title'>Section</h1><div class='content'><ul>"
            + "".join(f'<li><a href="{n}">{n}</a></li>' for n in names)
            + "</ul></div></body></html>"
        )
    for k in range(2):
        links = all_links[:] if k == 0 else list(reversed(all_links))
        (root / f"all-{k}.html").write_text(
            f"<html><body><h1 class='title'>All pages {k}</h1><div class='content'><ul>"
            + "".join(f'<li><a href="{u}">{u}</a></li>' for u in links)
            + "</ul></div></body></html>"
        )
    (root / "index.html").write_text(
        "<html><body><h1 class='title'>ACS Manual</h1><div class='content'>"
        '<a href="/all-0.html">all</a> <a href="/all-1.html">all (reverse)</a> '
        '<a href="/private/x.html">private</a> ' + topnav + "</div></body></html>"
    )
    js = root / "js"
    js.mkdir()
    for i in range(js_pages):
        (js / f"p{i}.html").write_text(JS_PAGE.format(i=i))
    total = 1 + 1 + 2 + sections * (per_section + 1)  # index, about, all-0/1, sections
    return {
        "pages": total,
        "doc_pages": sections * per_section,
        "js_pages": js_pages,
        "bytes": sum(p.stat().st_size for p in root.rglob("*.html")),
    }


def start_fileserver(root: Path, workdir: Path) -> tuple[subprocess.Popen, str]:
    binary = workdir / "fileserver"
    if not binary.exists():
        subprocess.run(
            [
                "go",
                "build",
                "-o",
                str(binary),
                str(REPO / "bench" / "crawl_fileserver" / "main.go"),
            ],
            check=True,
            env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GO111MODULE": "off"},
        )
    port = free_port()
    proc = subprocess.Popen([str(binary), "-dir", str(root), "-addr", f"127.0.0.1:{port}"])
    wait_port(port)
    return proc, f"http://127.0.0.1:{port}"


def start_ferretdb(workdir: Path) -> tuple[subprocess.Popen, str]:
    server = FerretServer(workdir / "fdb", log_level="error").start()
    return server.proc, server.uri


def start_grid(workdir: Path, max_sessions: int = 3) -> tuple[list[subprocess.Popen], str]:
    grid = SeleniumGrid(workdir, max_sessions=max_sessions).start()
    return grid.procs, grid.url


def stop(procs) -> None:
    stop_processes(procs)
