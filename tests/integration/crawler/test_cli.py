"""`python -m crawler` against FerretDB and the fixture website."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def cli(settings, *args, check=True):
    env = {
        **os.environ,
        "MONGO_URI": settings.mongo_uri,
        "MONGO_DB": settings.mongo_db,
        "CRAWLER_SPOOL_DIR": str(settings.spool_dir),
        "SELENIUM_HUB_URL": settings.selenium_hub_url,
        "CRAWLER_ALLOWED_TARGETS": settings.allowed_targets,
    }
    p = subprocess.run(
        [sys.executable, "-m", "crawler", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_sources_load_crawl_errors_healing(site, storage, settings, tmp_path):
    yml = tmp_path / "sources.yml"
    yml.write_text(f"""
sources:
  - name: manual
    start_urls: ["{site.base}/docs/0"]
    fields:
      title: {{selector: "h1.title"}}
    links: {{max_depth: 1, max_pages: 10}}
    schedule: "0 6 * * *"
    politeness: {{delay_seconds: 0, max_retries: 0}}
  - name: broken
    start_urls: ["{site.base}/error500"]
    fields:
      title: {{selector: "//h1/text()", type: xpath}}
    politeness: {{delay_seconds: 0, max_retries: 0}}
""")
    check = json.loads(cli(settings, "sources", "load", str(yml), "--check").stdout)
    assert check["created"] == ["manual", "broken"] and check["check_mode"] is True
    assert storage.db.sources.count_documents({}) == 0  # check mode wrote nothing
    assert json.loads(cli(settings, "sources", "load", str(yml)).stdout)["changed"] is True
    again = json.loads(cli(settings, "sources", "load", str(yml)).stdout)
    assert again["changed"] is False and sorted(again["unchanged"]) == ["broken", "manual"]
    out = json.loads(cli(settings, "crawl", "manual").stdout)
    assert out["pages_ok"] == 3 and out["status"] == "ok"
    assert cli(settings, "crawl", "broken", check=False).returncode == 1
    errors = cli(settings, "errors", "--code", "E005").stdout
    assert "E005 broken" in errors and "/error500" in errors
    status = json.loads(cli(settings, "healing").stdout)
    assert status["status"] == "failing" and status["sources"]["broken"]["failure_rate"] == 1.0
    assert json.loads(cli(settings, "replay-spool", "--check").stdout)["records"] == 0


def test_bad_sources_file_names_entry_and_field(storage, settings, tmp_path):
    yml = tmp_path / "bad.yml"
    yml.write_text(
        "sources:\n  - name: ok1\n    start_urls: [http://x/]\n    fields: {t: {selector: h1}}\n"
        "    schedule: 'every day'\n"
    )
    p = cli(settings, "sources", "load", str(yml), check=False)
    assert p.returncode == 2
    assert "sources[0] (ok1).schedule" in p.stderr and "invalid cron" in p.stderr
    assert storage.db.sources.count_documents({}) == 0


def test_mongodb_down_is_a_clear_error(settings):
    settings.mongo_uri = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500"
    p = cli(settings, "errors", check=False)
    assert p.returncode == 1 and "E009" in p.stderr
