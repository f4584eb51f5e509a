"""The promtool cases of the alert rules. For every alert, input series in
which the fault starts at t=0 (a counter's a little later): the alert is
silent just before its `for:` ends and fires with exactly the labels of
alert_contract.CONTRACT after it; on healthy (or deliberately excluded)
series it stays silent."""

from __future__ import annotations

import re

from alert_contract import CONTRACT

STEP = 10  # seconds: the evaluation interval of the test file and of the series


def seconds(duration: str) -> int:
    m = re.fullmatch(r"(\d+)([smh])", str(duration))
    assert m, f"not a simple duration: {duration}"
    return int(m[1]) * {"s": 1, "m": 60, "h": 3600}[m[2]]


def fmt(t: int) -> str:
    return f"{t}s"


def up(value):
    """A series holding `value` to the end of its case."""
    return lambda end, step: f"{value}x{end // step}"


def ramp(start, per_step):
    return lambda end, step: f"{start}+{per_step:g}x{end // step}"


def pulse():
    """A counter that goes up once, at t=30s."""
    return lambda end, step: f"0 0 0 1 1x{end // step - 3}"


class Cases(list):
    """Builds the case dicts: {alert, note, step, series, checks}; checks are
    (eval seconds, [(labels, summary)]) with [] for "no alert"."""

    def _add(self, alert, note, series, checks, end, step):
        series = {sel: values(end, step) for sel, values in series.items()}
        self.append(
            {"alert": alert, "note": note, "step": step, "series": series, "checks": checks}
        )

    @staticmethod
    def fired(alert, labels, summary):
        return [({**labels, **CONTRACT[alert]}, summary)]

    def fault(self, alert, note, series, for_s, labels, summary, lag=0, step=STEP):
        """Silent a step before `for` ends, firing two steps after; `lag`: when
        the condition first holds."""
        checks = [
            (max(lag + for_s - step, 0), []),
            (lag + for_s + 2 * step, self.fired(alert, labels, summary)),
        ]
        self._add(alert, note, series, checks, lag + for_s + 6 * step, step)

    def quiet(self, alert, note, series, at, step=STEP):
        self._add(alert, note, series, [(at, [])], at + step, step)

    def once(self, alert, note, series, window, labels, summary):
        """A counter alert without `for`: the pulse at t=30s fires at once and
        clears when it leaves the window."""
        checks = [
            (2 * STEP, []),
            (4 * STEP, self.fired(alert, labels, summary)),
            (3 * STEP + window + 2 * STEP, []),
        ]
        self._add(alert, note, series, checks, window + 12 * STEP, STEP)


def cases(d: dict, project: str) -> list[dict]:
    """d: the monitoring role's defaults; project: the compose project name."""
    c = Cases()

    # ApiDown: probe of /health, scrape of /metrics, no replica at all
    api_for = seconds(d["monitoring_api_down_for"])
    probe = 'probe_success{job="api_health",instance="api-1"}'
    scrape = 'up{job="api",instance="10.0.0.5:8000"}'
    mongo = 'probe_success{job="mongodb_tcp",instance="mongodb:27017"}'

    def api(probe_v=1, scrape_v=1, mongo_v=1):
        series = {probe: up(probe_v), mongo: up(mongo_v)}
        return series | ({scrape: up(scrape_v)} if scrape_v is not None else {})

    c.fault(
        "ApiDown",
        "the /health probe fails",
        api(probe_v=0),
        api_for,
        {"job": "api_health", "instance": "api-1"},
        "API replica api-1 does not answer (api_health)",
    )
    c.fault(
        "ApiDown",
        "/metrics is not scraped (process frozen)",
        api(scrape_v=0),
        api_for,
        {"job": "api", "instance": "10.0.0.5:8000"},
        "API replica 10.0.0.5:8000 does not answer (api)",
    )
    c.fault(
        "ApiDown",
        "no replica left in DNS",
        api(scrape_v=None),
        api_for,
        {"job": "api"},
        "No API replica is left to answer",
    )
    c.quiet("ApiDown", "healthy", api(), 10 * api_for)
    c.quiet(
        "ApiDown",
        "/health fails because MongoDB is down: MongoDBDown's incident",
        api(probe_v=0, mongo_v=0),
        10 * api_for,
    )

    # Airflow
    sched = 'probe_success{job="airflow_scheduler",instance="airflow-scheduler:8974"}'
    sched_for = seconds(d["monitoring_airflow_scheduler_down_for"])
    c.fault(
        "AirflowSchedulerDown",
        "scheduler health check fails",
        {sched: up(0)},
        sched_for,
        {"job": "airflow_scheduler", "instance": "airflow-scheduler:8974"},
        "The Airflow scheduler's health check fails: no DAG runs start",
    )
    c.quiet("AirflowSchedulerDown", "healthy", {sched: up(1)}, 10 * sched_for)

    paused_for = seconds(d["monitoring_airflow_dag_paused_for"])

    def dags(news, restore):
        paused = 'crawler_airflow_dag_paused{job="api",instance="%s",dag_id="%s"}'
        return {
            paused % ("api-1", "crawl_news"): up(news),
            paused % ("api-2", "crawl_news"): up(news),
            paused % ("api-1", "backup_dag"): up(0),
            # Created through the API and left paused: not managed, no incident.
            paused % ("api-1", "crawl_adhoc"): up(1),
            'crawler_restore_in_progress{job="api",instance="api-1"}': up(restore),
        }

    c.fault(
        "AirflowDagPaused",
        "a managed DAG paused, seen by two replicas: one alert",
        dags(1, 0),
        paused_for,
        {"dag_id": "crawl_news"},
        "Managed DAG crawl_news is paused",
    )
    c.quiet("AirflowDagPaused", "healthy", dags(0, 0), 10 * paused_for)
    c.quiet("AirflowDagPaused", "paused by a running restore", dags(1, 1), 10 * paused_for)

    # MongoDB: the TCP probe or the exporter
    mongo_for = seconds(d["monitoring_mongodb_down_for"])
    exporter = 'mongodb_up{job="mongodb",instance="mongodb-exporter:9216"}'
    for note, series, labels in (
        ("TCP probe fails", {mongo: up(0)}, {"job": "mongodb_tcp", "instance": "mongodb:27017"}),
        (
            "the exporter cannot reach it",
            {mongo: up(1), exporter: up(0)},
            {"job": "mongodb", "instance": "mongodb-exporter:9216"},
        ),
    ):
        c.fault(
            "MongoDBDown",
            note,
            series,
            mongo_for,
            labels,
            f"MongoDB {labels['instance']} does not accept connections",
        )
    c.quiet("MongoDBDown", "healthy", {mongo: up(1), exporter: up(1)}, 10 * mongo_for)

    # Crawl errors. rate() over 10 minutes of a counter that starts at t=0
    # averages over the whole window: at 20 times the threshold it crosses it at t=30s.
    threshold = float(d["monitoring_error_rate_threshold"])
    errors = 'crawler_errors_total{job="api",instance="api-1",code="E008"}'
    c.fault(
        "CrawlErrorRateHigh",
        "a burst of errors at 20 times the threshold",
        {errors: ramp(1000, threshold * 20 * STEP / 60)},
        600,
        {},
        f"More than {d['monitoring_error_rate_threshold']} crawl errors per minute",
        lag=30,
    )
    c.quiet(
        "CrawlErrorRateHigh",
        "errors steadily just under the threshold",
        {errors: ramp(1000, threshold * 0.9 * STEP / 60)},
        1800,
    )

    # Container memory and OOM kills (cAdvisor)
    def container(metric, proj=project, name="acs-api-1", service="api"):
        return (
            f'{metric}{{job="cadvisor",instance="cadvisor:8080",id="/docker/{name}",'
            f'image="acs/crawler:0.1.0",name="{name}",'
            f'container_label_com_docker_compose_project="{proj}",'
            f'container_label_com_docker_compose_service="{service}"}}'
        )

    def memory(used, limit, proj=project):
        return {
            container("container_memory_working_set_bytes", proj): up(used),
            container("container_spec_memory_limit_bytes", proj): up(limit),
        }

    def cadvisor_labels(name, service):
        return {
            "instance": "cadvisor:8080",
            "name": name,
            "container_label_com_docker_compose_service": service,
            "service": service,
        }

    ratio = float(d["monitoring_memory_near_limit_ratio"])
    mem_for = seconds(d["monitoring_memory_near_limit_for"])
    near = int(1000 * (ratio + (1 - ratio) / 2))
    c.fault(
        "ContainerMemoryNearLimit",
        "working set near the limit",
        memory(near, 1000),
        mem_for,
        cadvisor_labels("acs-api-1", "api"),
        f"acs-api-1 uses {near / 10:g}% of its memory limit",
    )
    for note, series in (
        ("well below the limit", memory(500, 1000)),
        ("no limit (0)", memory(near, 0)),
        ("no limit (a huge number)", memory(near, 9223372036854771712)),
        ("another compose project's container", memory(near, 1000, proj="other")),
    ):
        c.quiet("ContainerMemoryNearLimit", note, series, 10 * mem_for)

    oom_window = seconds(d["monitoring_oom_window"])
    oom = container("container_oom_events_total", name="acs-mongodb-1", service="mongodb")
    c.once(
        "ContainerOOMKilled",
        "an OOM kill at t=30s fires at once and clears after the window",
        {oom: pulse()},
        oom_window,
        cadvisor_labels("acs-mongodb-1", "mongodb"),
        "acs-mongodb-1 was killed for lack of memory",
    )
    c.quiet("ContainerOOMKilled", "no OOM kill", {oom: up(0)}, 2 * oom_window)

    # Grid
    grid_for = seconds(d["monitoring_grid_no_slots_for"])

    def grid(free, queue, total=3):
        slots = 'crawler_grid_slots{job="api",instance="api-1",state="%s"}'
        return {
            slots % "free": up(free),
            slots % "total": up(total),
            'crawler_grid_session_queue{job="api",instance="api-1"}': up(queue),
        }

    c.fault(
        "GridNoFreeSlots",
        "no free slot, two sessions queued",
        grid(0, 2),
        grid_for,
        {},
        "Selenium Grid has no free slot and 2 sessions wait",
    )
    c.quiet("GridNoFreeSlots", "a free slot: the queue drains", grid(1, 2), 10 * grid_for)
    c.quiet("GridNoFreeSlots", "all slots busy, nothing waits", grid(0, 0), 10 * grid_for)

    nodes_for = seconds(d["monitoring_grid_nodes_down_for"])
    c.fault(
        "GridNodesDown",
        "every Chrome node stopped",
        grid(0, 0, total=0),
        nodes_for,
        {},
        "Selenium Grid has no browser node",
    )
    c.quiet("GridNodesDown", "nodes registered, all busy", grid(0, 2), 10 * nodes_for)

    # Backups. BackupMetricMissing's `for:` is a day: evaluated every 10 minutes.
    hours = d["monitoring_backup_max_age_hours"]
    max_age = int(hours) * 3600
    backup = 'acs_backup_last_success_timestamp_seconds{job="api",instance="api-1"}'
    too_old = f"No successful backup for more than {hours} hours"
    c.fault(
        "BackupTooOld", "older than the maximum age", {backup: up(-max_age - 60)}, 900, {}, too_old
    )
    c.quiet("BackupTooOld", "young enough", {backup: up(-max_age + 3600)}, 1800)
    never = f"No signed backup has been seen for {hours} hours"
    other = {'up{job="api",instance="api-1"}': up(1)}
    c.fault("BackupMetricMissing", "no backup ever", other, max_age, {}, never, step=600)
    c.quiet("BackupMetricMissing", "a backup exists", {backup: up(0)}, max_age + 600, step=600)

    # Restore drills: a failed one at once (after 5m), an old or missing verified restore.
    hours = d["monitoring_restore_drill_max_age_hours"]
    max_age = int(hours) * 3600
    success = 'acs_restore_drill_success{job="api",instance="api-1"}'
    verified = 'acs_restore_drill_last_success_timestamp_seconds{job="api",instance="api-1"}'
    failed = "The last restore drill failed: the newest backup did not restore as recorded"
    c.fault("RestoreDrillFailed", "the last drill failed", {success: up(0)}, 300, {}, failed)
    c.quiet("RestoreDrillFailed", "the last drill passed", {success: up(1)}, 600)
    old = f"No verified restore for more than {hours} hours"
    c.fault(
        "RestoreUnverified",
        "older than the maximum age",
        {verified: up(-max_age - 60)},
        900,
        {},
        old,
    )
    c.quiet("RestoreUnverified", "young enough", {verified: up(-max_age + 3600)}, 1800)
    never = f"No restore drill has passed for {hours} hours"
    c.fault("RestoreDrillMissing", "no drill ever passed", other, max_age, {}, never, step=600)
    c.quiet("RestoreDrillMissing", "a drill passed", {verified: up(0)}, max_age + 600, step=600)

    # A drill requested by the DAG: until a drill has ended after the request.
    requested = 'acs_restore_drill_requested_timestamp_seconds{job="pushgateway",instance="pushgateway:9091"}'
    last_run = 'acs_restore_drill_last_run_timestamp_seconds{job="api",instance="api-1"}'
    asked = "A restore drill was requested (restore_drill_dag) and has not run yet"

    def asked_at_20s(end, step):
        return f"900 900 2000x{end // step - 2}"

    def first_asked_at_20s(end, step):
        return f"_ _ 2000x{end // step - 2}"

    c.fault(
        "RestoreDrillRequested",
        "asked after the last drill",
        {requested: asked_at_20s, last_run: up(1000)},
        0,
        {},
        asked,
        lag=20,
    )
    c.fault(
        "RestoreDrillRequested",
        "asked, no drill ever ran",
        {requested: first_asked_at_20s},
        0,
        {},
        asked,
        lag=20,
    )
    c.quiet(
        "RestoreDrillRequested",
        "the drill ran after the request",
        {requested: up(900), last_run: up(1000)},
        600,
    )
    c.quiet(
        "RestoreDrillRequested",
        "the drill ran, then the API is not scraped (down) for a while",
        {requested: up(900), last_run: lambda end, step: f"1000x6 _x{end // step}"},
        300,
    )
    c.quiet("RestoreDrillRequested", "never asked", {last_run: up(1000)}, 600)

    # The pushgateway and the remediator
    pgw = 'up{job="pushgateway",instance="pushgateway:9091"}'
    c.fault(
        "PushgatewayDown",
        "pushgateway down",
        {pgw: up(0)},
        300,
        {"job": "pushgateway", "instance": "pushgateway:9091"},
        "Pushgateway does not answer; DAG metrics are lost",
    )
    c.quiet("PushgatewayDown", "healthy", {pgw: up(1)}, 1800)

    rem = 'acs_remediator_%s{job="remediator",instance="remediator:9101",procedure="%s"%s}'
    breaker = rem % ("breaker_open", "recover_api", "")
    c.once(
        "RemediatorBreakerOpen",
        "the breaker of recover_api opens at t=30s; a person closes it at t=110s",
        {breaker: lambda end, step: "0 0 0 1x7 0x8", rem % ("breaker_open", "scale", ""): up(0)},
        60,
        {"target_procedure": "recover_api"},
        "Automatic recover_api stopped after repeated failures: a person must fix and reset it",
    )
    c.quiet("RemediatorBreakerOpen", "every breaker closed", {breaker: up(0)}, 600)

    rem_for = seconds(d["monitoring_remediator_down_for"])
    rem_up = 'up{job="remediator",instance="remediator:9101"}'
    c.fault(
        "RemediatorDown",
        "remediator down",
        {rem_up: up(0)},
        rem_for,
        {"job": "remediator", "instance": "remediator:9101"},
        "The remediator does not answer: incidents wait for a person",
    )
    c.quiet("RemediatorDown", "healthy", {rem_up: up(1)}, 10 * rem_for)

    window = seconds(d["monitoring_remediation_failed_window"])
    failed = rem % ("actions_total", "recover_mongodb", ',outcome="failed"')
    succeeded = rem % ("actions_total", "recover_mongodb", ',outcome="succeeded"')
    c.once(
        "RemediationFailed",
        "one failed recover_mongodb at t=30s; clears after the window",
        {failed: pulse(), succeeded: ramp(0, 1)},
        window,
        {"target_procedure": "recover_mongodb"},
        f"Automatic recover_mongodb failed in the last {d['monitoring_remediation_failed_window']}",
    )
    c.quiet(
        "RemediationFailed", "only successes", {failed: up(0), succeeded: ramp(0, 1)}, 2 * window
    )
    return c
