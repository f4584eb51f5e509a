"""Scrapy doing the same job as the crawler in crawl_static_bench.py: same
start URL, same concurrency, same fields (the crawler's field specs, read
with parsel the way crawler/extract.py reads them), same link rules (same
host, the same deny patterns, depth limit, robots.txt), items upserted into the same MongoDB in
the same batches with the same storage code, flushed off the reactor thread.
Run as a script (a Twisted reactor cannot be restarted in one process)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.linkextractors import LinkExtractor
from twisted.internet.threads import deferToThread

from crawler.storage import Storage


class MongoPipeline:
    def __init__(self, uri, db, batch):
        self.storage = Storage(uri, db)
        self.batch = batch
        self.buf = []
        self.count = 0

    @classmethod
    def from_crawler(cls, crawler):
        s = crawler.settings
        return cls(s["BENCH_MONGO_URI"], s["BENCH_MONGO_DB"], s.getint("BENCH_BATCH"))

    def open_spider(self, spider=None):
        self.storage.ensure_indexes()

    def process_item(self, item, spider=None):
        self.buf.append(dict(item))
        self.count += 1
        if len(self.buf) >= self.batch:
            buf, self.buf = self.buf, []
            return deferToThread(self.storage.write_results, buf).addCallback(lambda _: item)
        return item

    def close_spider(self, spider=None):
        if self.buf:
            self.storage.write_results(self.buf)


def _values(response, spec: dict, selector: str) -> list[str]:
    nodes = (response.xpath if spec.get("type") == "xpath" else response.css)(selector)
    out = []
    for node in nodes:
        if spec.get("attr"):
            value = node.attrib.get(spec["attr"]) or ""
        else:
            value = (
                node.xpath("string()").get() or ""
            )  # all the text inside, as lxml's text_content
        value = " ".join(value.split())
        if value:
            out.append(value)
    return out


def extract_field(response, spec: dict):
    """The crawler's field rule (crawler/extract.py): the selector, then its
    fallbacks; the first value, or all of them for a `many` field."""
    for selector in [spec["selector"], *spec.get("fallbacks", [])]:
        values = _values(response, spec, selector)
        if values:
            return values if spec.get("many") else values[0]
    return [] if spec.get("many") else None


class DocsSpider(scrapy.Spider):
    name = "docs"

    def __init__(self, start_url, max_depth, fields, deny, **kw):
        super().__init__(**kw)
        self.start_urls = [start_url]
        parts = urlsplit(start_url)
        # allow_domains does not match IP addresses: a same-origin regex does the same job
        origin = re.escape(f"{parts.scheme}://{parts.netloc}/")
        self.links = LinkExtractor(allow=[f"^{origin}"], deny=deny)
        self.max_depth = int(max_depth)
        self.fields = fields

    def parse(self, response):
        fields = {name: extract_field(response, spec) for name, spec in self.fields.items()}
        yield {
            "source": "scrapy",
            "url": response.url,
            "fields": fields,
            "status": "ok",
            "content_hash": hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest(),
            "fetched_at": datetime.now(UTC),
            "mode": "static",
            "run_id": "scrapy",
        }
        if response.meta.get("depth", 0) < self.max_depth:
            for link in self.links.extract_links(response):
                yield response.follow(link.url, callback=self.parse)


def cpu_seconds() -> float:
    t = os.times()  # the reactor thread and the storage threads of this process
    return t.user + t.system + t.children_user + t.children_system


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--mongo", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--fields", required=True, help="JSON: the crawler's field specs")
    ap.add_argument("--deny", default="[]", help="JSON: link patterns not followed")
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument(
        "--no-store", action="store_true", help="skip MongoDB (to isolate Scrapy itself)"
    )
    a = ap.parse_args()
    proc = CrawlerProcess(
        settings={
            "CONCURRENT_REQUESTS": a.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": a.concurrency,
            "DOWNLOAD_DELAY": 0,
            "ROBOTSTXT_OBEY": True,
            "LOG_LEVEL": "ERROR",
            "TELNETCONSOLE_ENABLED": False,
            "COOKIES_ENABLED": False,
            "RETRY_TIMES": 2,
            "DOWNLOAD_TIMEOUT": 30,
            "ITEM_PIPELINES": {} if a.no_store else {MongoPipeline: 100},
            "BENCH_MONGO_URI": a.mongo,
            "BENCH_MONGO_DB": a.db,
            "BENCH_BATCH": a.batch,
            "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
            "USER_AGENT": "acs-crawler-bench",
            "DEPTH_LIMIT": a.depth + 1,
        }
    )
    c0, t0 = cpu_seconds(), time.perf_counter()
    proc.crawl(
        DocsSpider,
        start_url=a.url,
        max_depth=a.depth,
        fields=json.loads(a.fields),
        deny=json.loads(a.deny),
    )
    proc.start()
    elapsed = time.perf_counter() - t0
    print("SCRAPY_JSON " + json.dumps({"elapsed": elapsed, "cpu": cpu_seconds() - c0}))


if __name__ == "__main__":
    main()
