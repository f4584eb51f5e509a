"""The functions the DAG tasks call (crawl -> heal -> push metrics), with a
real pushgateway (Debian prometheus-pushgateway)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import requests

from crawler import dags_support

pytestmark = pytest.mark.integration


@pytest.fixture
def pushgateway(tmp_path):
    from crawler_support import free_port, wait_port

    binary = shutil.which("prometheus-pushgateway")
    if not binary:
        pytest.fail("prometheus-pushgateway not on PATH: apt-get install prometheus-pushgateway")
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def test_crawl_heal_push(site, storage, settings, source_factory, pushgateway):
    site.state["flaky_times"] = 2  # the run's own retry and healing retry both meet a 503
    src = source_factory(
        "dagsrc",
        [f"{site.base}/flaky/d", f"{site.base}/docs/1"],
        politeness={"max_retries": 0, "delay_seconds": 0, "timeout_seconds": 5},
    )
    storage.db.sources.insert_one(src.to_doc())
    stats = dags_support.crawl("dagsrc", settings=settings)
    assert stats["pages_ok"] == 1 and stats["pages_failed"] == 1
    assert dags_support.needs_healing(stats)
    healed = dags_support.heal(stats, settings=settings)
    assert healed["retried"] == 1 and healed["recovered"] == 1
    assert storage.db.crawl_results.count_documents({"source": "dagsrc"}) == 2
    settings.pushgateway_url = pushgateway
    assert dags_support.push_metrics(stats, settings=settings) is True
    text = requests.get(f"{pushgateway}/metrics", timeout=5).text
    assert 'crawler_run_pages{instance="",job="crawler",outcome="failed",source="dagsrc"} 1' in text
    assert 'crawler_run_errors{code="E005",instance="",job="crawler",source="dagsrc"}' in text


def test_missing_source_fails_clearly(storage, settings):
    with pytest.raises(ValueError, match="'gone' not found"):
        dags_support.crawl("gone", settings=settings)


def test_backup_task_uses_the_backup_engine(storage, settings):
    storage.db.crawl_results.insert_one({"source": "s", "url": "u"})
    result = dags_support.backup("scheduled", settings=settings)
    assert result["path"].startswith(str(settings.backup_dir)) and "scheduled" in result["path"]
