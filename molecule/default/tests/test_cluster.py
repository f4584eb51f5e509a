"""The stack across three hosts: the core host and two worker hosts, each a
Celery worker and a Chrome node joined to the core host (issue 14)."""

import json
import re
import time
from pathlib import Path

import pytest
from stack_helpers import (
    AIRFLOW,
    API,
    COMPOSE,
    CORE,
    PROJECT_DIR,
    REPO,
    WORKERS,
    airflow_auth,
    containers,
    create_sources,
    credentials,
    fixture_pages,
    host_named,
    request,
    run_playbook,
    start_fixture_site,
    task_instances,
    wait_run,
)

testinfra_hosts = [f"ansible://{name}" for name in CORE]
REPORT = REPO / "artifacts" / "molecule" / "cluster.json"

GRID_STATUS = (
    "import json, urllib.request;"
    " s = json.load(urllib.request.urlopen('http://selenium-hub:4444/status'))['value'];"
    " print(json.dumps(s['nodes']))"
)


def _address(name):
    return host_named(name).interface("eth0", "inet").addresses[0]


def _grid_nodes(core):
    nodes = json.loads(core.check_output(f'{COMPOSE} exec -T api python -c "{GRID_STATUS}"'))
    return [n for n in nodes if n["availability"] == "UP"]


def _node_hosts(core):
    return {n["uri"].split("//", 1)[1].rsplit(":", 1)[0] for n in _grid_nodes(core)}


def _static_source(name, pages, delay):
    return {
        "name": name,
        "start_urls": ["http://fixture-site:8000/index.html"],
        "mode": "static",
        "schedule": None,
        "fields": {"heading": {"selector": "h1"}},
        "links": {"max_depth": 1, "max_pages": pages},
        "politeness": {"obey_robots": False, "delay_seconds": delay, "concurrency_per_domain": 1},
    }


def _browser_source(name, pages):
    spec = _static_source(name, pages, 0)
    spec.update(mode="browser")
    spec["politeness"]["concurrency_per_domain"] = 6
    return spec


# Every source the module crawls, made at once: the DAG processor creates
# their DAGs in one parse (one at a time, each waits for its own parse).
SOURCES = [
    *(_static_source(f"spread{i}", 8, 0.5) for i in range(4)),
    _browser_source("browsers", 12),
    _static_source("rolling", 20, 1.0),
    _static_source("drain", 30, 1.0),
]


@pytest.fixture(scope="module")
def api(host):
    creds = credentials(host)
    for name in [*CORE, *WORKERS]:
        start_fixture_site(host_named(name), fixture_pages(40))
    api = {"key": {"X-API-Key": creds["api_key"]}, "auth": airflow_auth(host, creds)}
    dag_ids = create_sources(host, api["key"], api["auth"], SOURCES)
    return dict(api, dags=dict(zip((spec["name"] for spec in SOURCES), dag_ids, strict=True)))


def _results(core, api, source):
    status, body = request(
        core, "GET", f"{API}/api/results?source={source}&page_size=500", api["key"]
    )
    assert status == 200, body
    return body["items"]


def test_each_worker_host_runs_a_celery_worker_and_a_chrome_node():
    for name in WORKERS:
        rows = containers(host_named(name))
        assert {r["Service"]: (r["State"], r.get("Health")) for r in rows} == {
            "airflow-worker": ("running", "healthy"),
            "chrome": ("running", "healthy"),
        }, name


def test_the_grid_counts_every_hosts_node(host):
    nodes = _grid_nodes(host)
    assert {_address(name) for name in WORKERS} <= _node_hosts(host)
    slots = sum(len(n["slots"]) for n in nodes)
    # The core host's node and one per worker host, three sessions each.
    assert len(nodes) == 1 + len(WORKERS)
    assert slots == 3 * len(nodes)


def test_tasks_run_on_both_worker_hosts_and_their_logs_show_in_airflow(host, api):
    runs = {api["dags"][f"spread{i}"]: None for i in range(4)}
    for dag_id in runs:
        status, run = request(host, "POST", f"{API}/api/sources/{dag_id[6:]}/crawl", api["key"])
        assert status == 202, run
        runs[dag_id] = run["run_id"]
    where = {}
    for dag_id, run_id in runs.items():
        assert wait_run(host, api["auth"], dag_id, run_id).get("state") == "success", dag_id
        crawl = next(
            t for t in task_instances(host, api["auth"], dag_id, run_id) if t["task_id"] == "crawl"
        )
        where.setdefault(crawl["hostname"], (dag_id, run_id, crawl["try_number"]))
        assert len(_results(host, api, dag_id[6:])) == 8, dag_id
    assert set(where) >= set(WORKERS), f"crawl tasks ran on {sorted(where)}"
    # The UI's log view: the API server fetches a worker host's task log
    # from that host's log server.
    for name in WORKERS:
        dag_id, run_id, attempt = where[name]
        status, text = request(
            host,
            "GET",
            f"{AIRFLOW}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/crawl/logs/{attempt}"
            "?full_content=true",
            dict(api["auth"], Accept="application/json"),
            raw=True,
        )
        assert status == 200, text
        assert "Could not read served logs" not in text, text[:2000]
        assert name in text and "crawl" in text, text[:2000]


def test_a_browser_crawl_gets_sessions_on_both_worker_hosts_nodes(host, api):
    dag_id = api["dags"]["browsers"]
    status, run = request(host, "POST", f"{API}/api/sources/browsers/crawl", api["key"])
    assert status == 202, run
    assert wait_run(host, api["auth"], dag_id, run["run_id"]).get("state") == "success"
    assert len(_results(host, api, "browsers")) == 12
    for name in WORKERS:
        logs = host_named(name).check_output(f"{COMPOSE} logs chrome")
        assert "Session created" in logs, f"no browser session on {name}'s node"


def test_status_lists_the_worker_hosts_and_fails_when_one_has_a_stopped_service(host):
    # A remote core host: the MongoDB probe runs in the host's Python
    # (docker_engine installs python3-pymongo for it).
    healthy = run_playbook("playbooks/runbook/status.yml")
    assert healthy.returncode == 0, healthy.stdout[-4000:]
    assert not re.search(r"unhealthy: .*worker ", healthy.stdout), healthy.stdout[-4000:]
    for name in WORKERS:
        for service in ("airflow-worker", "chrome"):
            assert re.search(rf"worker {name} {service}\s+running/healthy", healthy.stdout), (
                name,
                service,
                healthy.stdout[-4000:],
            )
    stopped = host_named(WORKERS[0])
    stopped.check_output(f"{COMPOSE} stop chrome")
    try:
        down = run_playbook("playbooks/runbook/status.yml")
        assert down.returncode != 0
        assert re.search(rf"unhealthy: .*worker {WORKERS[0]} chrome", down.stdout), down.stdout[
            -4000:
        ]
    finally:
        stopped.check_output(f"{COMPOSE} start chrome")
    deadline = time.monotonic() + 120
    while _address(WORKERS[0]) not in _node_hosts(host) and time.monotonic() < deadline:
        time.sleep(3)
    assert _address(WORKERS[0]) in _node_hosts(host)


def _sessions_per_node(core):
    return sorted(len(n["slots"]) for n in _grid_nodes(core))


def test_scale_sets_the_sessions_of_every_hosts_node(host):
    # [스케일링] step 1 on a cluster: SE_NODE_MAX_SESSIONS on the core host's
    # node and on each worker host's; the Grid's expected slots count them all.
    assert _sessions_per_node(host) == [3] * (1 + len(WORKERS))
    try:
        scaled = run_playbook("playbooks/runbook/scale.yml", "-e", "scale_node_max_sessions=2")
        assert scaled.returncode == 0, scaled.stdout[-4000:]
        assert f"Grid {1 + len(WORKERS)} nodes / {2 * (1 + len(WORKERS))} slots" in scaled.stdout
        assert _sessions_per_node(host) == [2] * (1 + len(WORKERS))
        for name in WORKERS:
            assert (
                host_named(name)
                .file(f"{PROJECT_DIR}/compose.d/selenium_grid.yml")
                .contains('SE_NODE_MAX_SESSIONS: "2"')
            ), name
    finally:
        back = run_playbook("playbooks/runbook/scale.yml", "-e", "scale_node_max_sessions=3")
    assert back.returncode == 0, back.stdout[-4000:]
    assert _sessions_per_node(host) == [3] * (1 + len(WORKERS))


def _incident_report(proc):
    md = re.search(r"incident report: (\S+\.md)", proc.stdout)
    assert md, proc.stdout[-3000:]
    return json.loads(Path(md.group(1)).with_suffix(".json").read_text())


def test_recover_crawl_failures_brings_back_a_worker_hosts_node(host):
    # [크롤링 실패율 급등] step 4 on a cluster: the broken browser may be a
    # worker host's; the Grid is only recovered when every host's node is back.
    broken = WORKERS[0]
    host_named(broken).check_output(f"{COMPOSE} stop chrome")
    try:
        proc = run_playbook(
            "playbooks/runbook/recover_crawl_failures.yml",
            "-e",
            "recover_crawl_failures_force_restart=true",
        )
        report = _incident_report(proc)
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert f"docker compose restart chrome on worker host {broken}" in report["actions"], report
        assert any(f"nodes={1 + len(WORKERS)}" in a for a in report["actions"]), report
        assert _address(broken) in _node_hosts(host)
    finally:
        host_named(broken).run(f"{COMPOSE} start chrome")


def test_recover_airflow_restarts_a_worker_hosts_stopped_celery_worker(host):
    # [Airflow DAG 실행 안 됨] on a cluster: Airflow's health does not list the
    # Celery workers, and a run's tasks wait in the queue while none runs.
    stopped = WORKERS[-1]
    host_named(stopped).check_output(f"{COMPOSE} stop airflow-worker")
    try:
        proc = run_playbook("playbooks/runbook/recover_airflow.yml")
        report = _incident_report(proc)
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert (
            f"docker compose restart airflow-worker on worker host {stopped}" in report["actions"]
        ), report
        assert report["result"] == "recovered", report
        rows = {
            r["Service"]: (r["State"], r.get("Health")) for r in containers(host_named(stopped))
        }
        assert rows["airflow-worker"] == ("running", "healthy")
    finally:
        host_named(stopped).run(f"{COMPOSE} start airflow-worker")


def test_recover_oom_restarts_an_offender_on_a_worker_host(host):
    # [메모리 부족 / OOM] on a cluster: a worker host's Chrome node runs out of
    # memory on its own host; steps 1 and 2 read and restart it there.
    name = WORKERS[0]
    worker = host_named(name)
    cid = worker.check_output(f"{COMPOSE} ps -q chrome").strip()
    limit = int(worker.check_output(f"docker inspect -f '{{{{.HostConfig.Memory}}}}' {cid}"))
    assert limit > 0, "the chrome service has no mem_limit"
    # `tail /dev/zero` keeps one endless line in memory, past the container's
    # limit: the OOM killer fires (the node image need not have python).
    oom = worker.run(f"docker exec {cid} tail /dev/zero")
    assert oom.rc == 137, (oom.rc, oom.stdout[-500:], oom.stderr[-500:])
    # Check mode names the worker host's offender and restarts nothing.
    started = f"docker inspect -f '{{{{.State.StartedAt}}}}' {cid}"
    before = worker.check_output(started)
    check = run_playbook("playbooks/runbook/recover_oom.yml", "--check")
    assert check.returncode == 0, check.stdout[-4000:]
    result = _incident_report(check)["result"]
    assert f"chrome on worker host {name}" in result, result
    assert worker.check_output(started) == before
    proc = run_playbook("playbooks/runbook/recover_oom.yml", "-e", "recover_oom_prune=false")
    report = _incident_report(proc)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert report["result"] == "recovered", report
    assert any(
        f.startswith(f"memory worker {name} ") and "OFFENDER" in f for f in report["findings"]
    ), report["findings"]
    assert f"docker compose restart chrome on worker host {name}" in report["actions"], report
    rows = {r["Service"]: (r["State"], r.get("Health")) for r in containers(worker)}
    assert rows["chrome"] == ("running", "healthy")
    assert worker.check_output(started) != before


def _busy_worker(core, api, dag_id, run_id):
    """The worker host running the run's crawl task, once it runs."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for t in task_instances(core, api["auth"], dag_id, run_id):
            if t["task_id"] == "crawl" and t["state"] == "running" and t["hostname"] in WORKERS:
                return t["hostname"]
        time.sleep(2)
    raise AssertionError("the crawl task never ran on a worker host")


def _assert_finished_once_on(core, api, dag_id, run_id, busy):
    """The run succeeded and its crawl task ran on ``busy``, in one try."""
    assert wait_run(core, api["auth"], dag_id, run_id).get("state") == "success"
    crawl = next(
        t for t in task_instances(core, api["auth"], dag_id, run_id) if t["task_id"] == "crawl"
    )
    assert (crawl["hostname"], crawl["try_number"]) == (busy, 1)


def test_rolling_restart_recreates_each_worker_host_without_cutting_a_crawl(host, api):
    dag_id = api["dags"]["rolling"]
    status, run = request(host, "POST", f"{API}/api/sources/rolling/crawl", api["key"])
    assert status == 202, run
    busy = _busy_worker(host, api, dag_id, run["run_id"])
    before = {name: {c["ID"] for c in containers(host_named(name))} for name in WORKERS}

    proc = run_playbook("playbooks/rolling_restart_workers.yml")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # serial: 1, one host after the other
    assert re.findall(r"PLAY \[Restart the worker hosts one by one\]", proc.stdout) == [
        "PLAY [Restart the worker hosts one by one]"
    ] * len(WORKERS), proc.stdout[-4000:]
    # The busy host finished its task before its restart: one try, every page.
    _assert_finished_once_on(host, api, dag_id, run["run_id"], busy)
    assert len(_results(host, api, "rolling")) == 20
    for name in WORKERS:
        assert not before[name] & {c["ID"] for c in containers(host_named(name))}, name
    test_each_worker_host_runs_a_celery_worker_and_a_chrome_node()
    assert {_address(name) for name in WORKERS} <= _node_hosts(host)


def test_remove_worker_drains_a_busy_host_and_add_worker_brings_it_back(host, api):
    dag_id = api["dags"]["drain"]
    status, run = request(host, "POST", f"{API}/api/sources/drain/crawl", api["key"])
    assert status == 202, run
    busy = _busy_worker(host, api, dag_id, run["run_id"])

    removed = run_playbook("playbooks/remove_worker.yml", "-e", f"worker={busy}")
    assert removed.returncode == 0, removed.stdout[-4000:] + removed.stderr[-2000:]
    # The task the host was running finished there: the run succeeds with
    # every page stored, once.
    _assert_finished_once_on(host, api, dag_id, run["run_id"], busy)
    assert len(_results(host, api, "drain")) == 30
    assert _address(busy) not in _node_hosts(host)
    assert containers(host_named(busy)) == []

    slots_without = sum(len(n["slots"]) for n in _grid_nodes(host))
    started = time.monotonic()
    added = run_playbook("playbooks/add_worker.yml")
    add_seconds = round(time.monotonic() - started, 1)
    assert added.returncode == 0, added.stdout[-4000:] + added.stderr[-2000:]
    assert _address(busy) in _node_hosts(host)
    slots_with = sum(len(n["slots"]) for n in _grid_nodes(host))
    assert slots_with == slots_without + 3
    # The closing note's numbers (issue 14): what adding a worker host costs.
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {
                "add_worker_seconds": add_seconds,
                "grid_slots_one_worker": slots_without,
                "grid_slots_two_workers": slots_with,
            }
        )
        + "\n"
    )
    test_each_worker_host_runs_a_celery_worker_and_a_chrome_node()
