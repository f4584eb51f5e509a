"""The label contract of the alert rules (roles/monitoring/templates/alerts.yml.j2):
what the remediator relies on. For each alert its severity and, for an
incident, the playbook under playbooks/runbook/ that answers it (`procedure`)
and whether automation may run it (`remediation`); `service` where the
procedure acts on one service."""

from __future__ import annotations

CONTRACT: dict[str, dict[str, str]] = {
    "ApiDown": {
        "severity": "critical",
        "service": "api",
        "procedure": "recover_api",
        "remediation": "auto",
    },
    "AirflowSchedulerDown": {
        "severity": "critical",
        "service": "airflow-scheduler",
        "procedure": "recover_airflow",
        "remediation": "auto",
    },
    "AirflowDagPaused": {
        "severity": "warning",
        "service": "airflow-scheduler",
        "procedure": "recover_airflow",
        "remediation": "auto",
    },
    "MongoDBDown": {
        "severity": "critical",
        "service": "mongodb",
        "procedure": "recover_mongodb",
        "remediation": "auto",
    },
    "CrawlErrorRateHigh": {
        "severity": "warning",
        "procedure": "recover_crawl_failures",
        "remediation": "auto",
    },
    "ContainerMemoryNearLimit": {
        "severity": "warning",
        "procedure": "recover_oom",
        "remediation": "auto",
    },
    "ContainerOOMKilled": {
        "severity": "critical",
        "procedure": "recover_oom",
        "remediation": "auto",
    },
    "GridNoFreeSlots": {
        "severity": "warning",
        "service": "chrome",
        "procedure": "scale",
        "remediation": "auto",
    },
    "GridNodesDown": {
        "severity": "critical",
        "service": "chrome",
        "procedure": "recover_crawl_failures",
        "remediation": "auto",
    },
    "BackupTooOld": {"severity": "critical", "procedure": "backup", "remediation": "auto"},
    "BackupMetricMissing": {"severity": "warning", "procedure": "backup", "remediation": "auto"},
    "RestoreDrillFailed": {
        "severity": "critical",
        "procedure": "restore_drill",
        "remediation": "manual",
    },
    "RestoreUnverified": {
        "severity": "warning",
        "procedure": "restore_drill",
        "remediation": "manual",
    },
    "RestoreDrillMissing": {
        "severity": "warning",
        "procedure": "restore_drill",
        "remediation": "manual",
    },
    "RestoreDrillRequested": {
        "severity": "info",
        "procedure": "restore_drill",
        "remediation": "auto",
    },
    "PushgatewayDown": {"severity": "warning", "remediation": "manual"},
    "RemediatorBreakerOpen": {"severity": "critical", "remediation": "manual"},
    "RemediatorDown": {"severity": "warning", "remediation": "manual"},
    "RemediationFailed": {"severity": "warning", "remediation": "manual"},
}
