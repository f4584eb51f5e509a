"""Scrapy doing the same job as the crawler in crawl_static_bench.py: same
start URL, same concurrency, same fields (CSS via parsel), same link rules
(same host, depth limit, robots.txt), items upserted into the same MongoDB in
the same batches with the same storage code, flushed off the reactor thread.
Run as a script (a Twisted reactor cannot be restarted in one process)."""

from __future__ import annotations

import argparse
import hashlib
import json
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


class DocsSpider(scrapy.Spider):
    name = "docs"

    def __init__(self, start_url, max_depth, **kw):
        super().__init__(**kw)
        self.start_urls = [start_url]
        parts = urlsplit(start_url)
        # allow_domains does not match IP addresses: a same-origin regex does the same job
        origin = re.escape(f"{parts.scheme}://{parts.netloc}/")
        self.links = LinkExtractor(allow=[f"^{origin}"], deny=[r"/private/"])
        self.max_depth = int(max_depth)

    def parse(self, response):
        title = response.css("h1.title::text").get()
        body = " ".join(" ".join(response.css("div.content ::text").getall()).split())
        fields = {
            "title": title and " ".join(title.split()),
            "body": body or None,
            "updated": response.css("span.updated::text").get(),
            "breadcrumb": [
                " ".join(t.split()) for t in response.css("nav.breadcrumb a::text").getall()
            ],
        }
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--mongo", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--depth", type=int, default=5)
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
    t0 = time.perf_counter()
    proc.crawl(DocsSpider, start_url=a.url, max_depth=a.depth)
    proc.start()
    elapsed = time.perf_counter() - t0
    print("SCRAPY_JSON " + json.dumps({"elapsed": elapsed}))


if __name__ == "__main__":
    main()
