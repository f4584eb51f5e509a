"""The alert rules (roles/monitoring/templates/alerts.yml.j2) rendered with
the role defaults: `promtool test rules` runs the cases of alert_cases.py for
every alert, and the labels the remediator acts on name real procedures."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml
from alert_cases import STEP, cases, fmt
from alert_contract import CONTRACT
from stack_role_helpers import REPO

RUNBOOK = (REPO / "docs" / "operations-runbook.ko.txt").read_text()
PLAYBOOKS = REPO / "playbooks" / "runbook"
DEFAULTS = yaml.safe_load((REPO / "roles/monitoring/defaults/main.yml").read_text())
PROJECT = yaml.safe_load((REPO / "roles/stack/defaults/main.yml").read_text())["stack_project_name"]
# The remediator's own alerts have no runbook heading of the original runbook.
REMEDIATOR_HEADING = "[자동 복구]"


@pytest.fixture(scope="module")
def rules(rendered_local) -> dict[str, dict]:
    groups = rendered_local.yaml("monitoring/prometheus/alerts.yml")["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"]}


def promtool_tests(rules: dict[str, dict]) -> dict[int, dict]:
    """The promtool test files by evaluation interval: one test group a case
    (its own series)."""
    files: dict[int, dict] = {}
    for c in cases(DEFAULTS, PROJECT):
        rule = rules[c["alert"]]
        tests = files.setdefault(
            c["step"],
            {"rule_files": ["alerts.yml"], "evaluation_interval": fmt(c["step"]), "tests": []},
        )
        tests["tests"].append(
            {
                "name": f"{c['alert']}: {c['note']}",
                "interval": fmt(c["step"]),
                "input_series": [
                    {"series": sel, "values": values} for sel, values in c["series"].items()
                ],
                "alert_rule_test": [
                    {
                        "eval_time": fmt(at),
                        "alertname": c["alert"],
                        "exp_alerts": [
                            {
                                "exp_labels": labels,
                                "exp_annotations": {
                                    "summary": summary,
                                    "runbook": rule["annotations"]["runbook"],
                                },
                            }
                            for labels, summary in expected
                        ],
                    }
                    for at, expected in c["checks"]
                ],
            }
        )
    return files


def run_promtool(rendered, files: dict[int, dict]) -> subprocess.CompletedProcess:
    rules_dir = rendered.root / "monitoring/prometheus"
    names = []
    for step, tests in files.items():
        names.append(f"alerts.test.{step}s.yml")
        (rules_dir / names[-1]).write_text(
            yaml.safe_dump(tests, allow_unicode=True, sort_keys=False)
        )
    return subprocess.run(
        ["promtool", "test", "rules", *names],
        cwd=rules_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_promtool_rule_tests_pass_for_every_alert(rendered_local, rules):
    files = promtool_tests(rules)
    covered = {g["alert_rule_test"][0]["alertname"] for f in files.values() for g in f["tests"]}
    assert covered == set(rules), "every alert has promtool cases, and no case names a ghost"
    for alert in rules:  # each alert fires in some case and stays silent in another
        checks = [c for c in cases(DEFAULTS, PROJECT) if c["alert"] == alert]
        assert any(exp for c in checks for _, exp in c["checks"]), alert
        assert any(not exp for c in checks for _, exp in c["checks"][:1]), alert
    proc = run_promtool(rendered_local, files)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.stdout.count("SUCCESS") == len(files)


def test_promtool_catches_a_wrong_label(rendered_local, rules):
    """The cases can fail: the same tests against a rule that says manual."""
    tests = promtool_tests(rules)[STEP]
    group = next(g for g in tests["tests"] if g["name"].startswith("ApiDown"))
    group["alert_rule_test"][1]["exp_alerts"][0]["exp_labels"]["remediation"] = "manual"
    tests["tests"] = [group]
    proc = run_promtool(rendered_local, {STEP: tests})
    assert proc.returncode != 0
    assert "remediation" in proc.stdout + proc.stderr


def test_every_alert_carries_its_contract_labels(rules):
    assert set(rules) == set(CONTRACT)
    for name, rule in rules.items():
        static = {k: v for k, v in rule["labels"].items()}
        assert static == CONTRACT[name], name
        assert static["remediation"] in ("auto", "manual"), name
        assert static["remediation"] == "manual" or "procedure" in static, (
            f"{name}: automatic remediation of what?"
        )
        assert rule["annotations"].get("summary"), name


def _heading(playbook: str) -> str | None:
    """'[API 무응답]' from the play name '[API 무응답] Recover the API'."""
    play = yaml.safe_load((PLAYBOOKS / f"{playbook}.yml").read_text())[0]["name"]
    m = re.match(r"(\[[^\]]+\])", play)
    return m[1] if m else None


def test_procedures_exist_and_every_recover_procedure_has_an_alert(rules):
    procedures = {r["labels"]["procedure"] for r in rules.values() if "procedure" in r["labels"]}
    for procedure in procedures:
        assert (PLAYBOOKS / f"{procedure}.yml").is_file(), f"no playbook for {procedure}"
    recover = {p.stem for p in PLAYBOOKS.glob("recover_*.yml")}
    assert recover, "playbooks/runbook/recover_*.yml not found"
    assert recover <= procedures, f"runbook incidents without an alert: {recover - procedures}"
    # a destructive procedure is never run by automation
    assert "restore" not in procedures


def test_runbook_annotation_names_the_runbook_heading(rules):
    """The procedure's heading ([API 무응답] of its play name), else a heading
    or section of the runbook; the remediator's own alerts say so."""
    sections = {ln.strip() for ln in RUNBOOK.splitlines() if ln.strip()}
    for name, rule in rules.items():
        runbook = rule["annotations"]["runbook"]
        procedure = rule["labels"].get("procedure")
        if procedure and _heading(procedure):
            assert runbook == _heading(procedure), name
        elif name.startswith("Remediat"):
            assert runbook == REMEDIATOR_HEADING, name
        else:
            assert runbook in sections or runbook.strip("[]") in sections, name
