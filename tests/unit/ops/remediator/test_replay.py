"""Recorded Alertmanager notifications through the remediator's source,
decisions and ledger, with the playbook run replaced by a recorder: the
decisions a person would read in the ledger, and the escalation webhook's
calls, for firing, resolved, grouped, flapping, unknown, destructive and
unauthenticated alerts."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
import time

import pytest
from conftest import ROOT, SECRET, payload

from ops.remediator import config as config_mod
from ops.remediator import handler
from ops.remediator.ledger import Ledger

_SOURCE = ROOT / "extensions/eda/plugins/event_source/alertmanager_webhook.py"
_spec = importlib.util.spec_from_file_location("alertmanager_webhook", _SOURCE)
webhook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(webhook)

AUTH = {"Authorization": f"Bearer {SECRET}"}


class Clock:
    """time.time for the whole remediator (decisions and ledger alike)."""

    def __init__(self, start: float = 1_796_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(time, "time", fake)
    return fake


class _Runs(list):
    """(procedure, extra_vars) of each run; .contexts the context handed over."""

    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[dict] = []


@pytest.fixture
def runs(monkeypatch):
    """Replaces the playbook run; records (procedure, extra_vars)."""
    calls = _Runs()
    calls_context = calls.contexts

    def fake_run(config, procedure, extra_vars, context):
        calls.append((procedure, dict(extra_vars)))
        calls_context.append(context)
        assert context["alert"]["labels"]["procedure"] == procedure
        return 0, ""

    monkeypatch.setattr(handler, "run_procedure", fake_run)
    return calls


def receive(notification: dict, headers: dict | None = None) -> tuple[int, dict, list]:
    queue: asyncio.Queue = asyncio.Queue()
    cfg = config_mod.load()
    receiver = webhook.Receiver(
        queue, str(config_mod.os.environ["ACS_REMEDIATOR_CONFIG"]), str(cfg.token_file)
    )
    status, answer = asyncio.run(
        receiver.receive(AUTH if headers is None else headers, json.dumps(notification).encode())
    )
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return status, answer, events


def handle_all(events: list) -> list:
    cfg = config_mod.load()
    return [handler.handle(event["ledger_id"], cfg) for event in events]


def ledger() -> Ledger:
    return Ledger(config_mod.load().ledger)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-secret"}, {"Authorization": f"Basic {SECRET}"}],
    ids=["no header", "wrong secret", "not bearer"],
)
def test_unauthenticated_requests_are_refused_and_recorded(remediator_config, headers):
    status, answer, events = receive(payload("firing_api_down"), headers)
    assert status == 401 and "Bearer" in answer["error"]
    assert events == []
    rejected = ledger().entries(kinds=("rejected",))
    assert len(rejected) == 1 and "secret" in rejected[0]["reason"]
    assert ledger().entries(kinds=("received",)) == []


def test_a_body_that_is_not_a_notification_names_the_field(remediator_config):
    status, answer, events = receive({"version": "4", "alerts": [{"status": "burning"}]})
    assert status == 400
    assert "alerts.0.status" in answer["error"] and "alerts.0.labels" in answer["error"]
    assert events == []


def test_a_firing_incident_runs_its_procedure_and_is_verified(remediator_config, servers, runs):
    note = payload("firing_api_down")
    # Prometheus saw the condition 30 s before the alert fired (its `for`).
    own = {k: v for k, v in note["alerts"][0]["labels"].items() if k != "stack"}
    servers.prometheus_alerts = [
        {"labels": {**own, "instance": "another replica"}, "activeAt": "2026-12-02T20:30:00Z"},
        {"labels": own, "activeAt": "2026-12-02T20:39:40.1Z"},  # without external labels
    ]
    status, answer, events = receive(note)
    assert status == 200 and answer["accepted"] == 1
    [decision] = handle_all(events)
    assert decision.action == "run" and "action 1 of 3" in decision.reason
    assert runs == [("recover_api", {})]
    [context] = runs.contexts
    assert context["alert"]["starts_at"] == "2026-12-02T20:39:40.1Z"  # detection
    assert context["alert"]["fired_at"] == "2026-12-02T20:40:10.123000Z"
    [action] = ledger().actions("recover_api")
    assert action["outcome"] == "succeeded" and action["verified"] == 1
    assert any("probe_success" in q for q in servers.queries)
    assert servers.posts == []  # fixed: nobody is called


def test_resolved_unknown_and_manual_alerts_are_recorded_not_acted_on(remediator_config, runs):
    events = []
    for name in ("resolved_api_down", "unknown_alert", "manual_breaker_open"):
        events += receive(payload(name))[2]
    decisions = handle_all(events)
    assert [d.action for d in decisions] == ["ignore", "ignore", "ignore"]
    assert "resolved" in decisions[0].reason
    assert "names no procedure" in decisions[1].reason
    assert "manual" in decisions[2].reason
    assert runs == []
    assert len(ledger().entries(kinds=("decision",))) == 3


def test_a_destructive_procedure_is_never_automatic_and_a_person_is_called_once(
    remediator_config, servers, runs
):
    events = receive(payload("destructive_restore"))[2] + receive(payload("destructive_restore"))[2]
    decisions = handle_all(events)
    assert [d.action for d in decisions] == ["refuse", "refuse"]
    assert "destructive" in decisions[0].reason
    assert runs == []
    assert len(servers.posts) == 1  # the repeat of the same alert calls nobody again
    assert servers.posts[0]["procedure"] == "restore"


def test_a_grouped_notification_runs_the_procedure_once(remediator_config, monkeypatch):
    """Two replicas down in one notification: the rules hand both alerts over
    at once; one remediation runs, the other sees it running."""
    started = threading.Event()
    release = threading.Event()
    calls = []

    def slow_run(config, procedure, extra_vars, context):
        calls.append(procedure)
        started.set()
        release.wait(10)
        return 0, ""

    monkeypatch.setattr(handler, "run_procedure", slow_run)
    _, answer, events = receive(payload("grouped_two_replicas"))
    assert answer["accepted"] == 2
    cfg = config_mod.load()
    results = {}
    first = threading.Thread(
        target=lambda: results.setdefault("first", handler.handle(events[0]["ledger_id"], cfg))
    )
    first.start()
    assert started.wait(10)
    second = handler.handle(events[1]["ledger_id"], cfg)
    release.set()
    first.join(10)
    assert results["first"].action == "run"
    assert second.action == "skip" and "already running" in second.reason
    assert calls == ["recover_api"]


def test_flapping_stops_at_the_budget_and_the_breaker_survives_a_restart(
    remediator_config, servers, runs, clock
):
    """The API frozen ten times in ten minutes: three actions (the budget),
    then the breaker opens and the escalation webhook gets one call."""
    base = payload("firing_api_down")
    decisions = []
    for i in range(10):
        clock.now += 60
        note = json.loads(json.dumps(base))
        note["alerts"][0]["startsAt"] = f"2026-12-02T20:{40 + i:02d}:10Z"
        decisions += handle_all(receive(note)[2])
    actions = [d.action for d in decisions]
    assert actions[:3] == ["run", "run", "run"]
    assert actions[3] == "refuse" and "budget exhausted: 3 of 3" in decisions[3].reason
    assert all(a == "skip" for a in actions[4:]), actions
    assert all("breaker open" in d.reason for d in decisions[4:])
    assert len(runs) == 3
    assert len(servers.posts) == 1 and servers.posts[0]["reason"].startswith("breaker opened")
    # A restart: a new process reads the same ledger file.
    clock.now += 3600  # the budget window has passed; the breaker still holds
    after = handle_all(receive(base)[2])
    assert after[0].action == "skip" and "breaker open" in after[0].reason
    assert len(runs) == 3 and len(servers.posts) == 1
    # A person closes it; the automation acts again.
    assert ledger().reset_breaker("recover_api", by="test")
    clock.now += 60
    assert handle_all(receive(base)[2])[0].action == "run"


def test_an_unverified_fix_escalates_and_two_open_the_breaker(
    remediator_config, servers, runs, clock
):
    servers.fixed = False  # Prometheus never confirms the fix
    for i in range(2):
        clock.now += 120
        note = payload("firing_mongodb_down")
        note["alerts"][0]["startsAt"] = f"2026-12-02T20:5{i}:00Z"
        [decision] = handle_all(receive(note)[2])
        assert decision.action == "run"
    outcomes = [a["outcome"] for a in ledger().actions("recover_mongodb")]
    assert outcomes == ["unverified", "unverified"]
    assert [p["reason"].split(":")[0] for p in servers.posts] == [
        "recover_mongodb did not fix MongoDBDown (unverified, rc=0); 1 failure(s) in a row",
        "breaker opened",
    ]
    assert ledger().breaker("recover_mongodb")


def test_the_kill_switch_and_a_pause_silence_stop_every_action(
    remediator_config, servers, runs, monkeypatch
):
    text = remediator_config.read_text().replace("breaker:", "enabled: false\nbreaker:")
    remediator_config.write_text(text)
    [decision] = handle_all(receive(payload("firing_api_down"))[2])
    assert decision.action == "paused" and "kill switch" in decision.reason
    remediator_config.write_text(text.replace("enabled: false\n", ""))
    servers.silences = [
        {
            "id": "s-1",
            "comment": "maintenance",
            "status": {"state": "active"},
            "matchers": [
                {"name": "remediator", "value": "paused", "isEqual": True, "isRegex": False}
            ],
        }
    ]
    note = payload("firing_api_down")
    note["alerts"][0]["fingerprint"] = "ffffeeeeddddcccc"
    [decision] = handle_all(receive(note)[2])
    assert decision.action == "paused" and "silence s-1: maintenance" in decision.reason
    assert runs == []


def test_check_mode_records_what_would_run(remediator_config, runs, monkeypatch):
    monkeypatch.setenv("ACS_REMEDIATOR_DRY_RUN", "1")
    [decision] = handle_all(receive(payload("firing_api_down"))[2])
    assert decision.action == "run"
    assert runs == []
    assert ledger().entries(kinds=("would_run",))
    assert ledger().actions() == []
