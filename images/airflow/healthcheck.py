#!/home/airflow/.local/bin/python3
"""HEALTHCHECK of acs-local/airflow: probe the component this container runs.

PID 1 is tini; its argv names the airflow sub-command. The api-server is
asked for /api/v2/monitor/health, the scheduler for its health server
(AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=true in the image); triggerer and
dag-processor must have a running job row for this host whose heartbeat is
recent. The job row is read with SQLAlchemy directly because
`airflow jobs check` loads the whole of Airflow and needs 10-100 s on a
busy two-core host, longer than a health check may take.
"""

import os
import socket
import sys
import urllib.request
from datetime import UTC, datetime, timedelta

COMPONENTS = ("api-server", "standalone", "scheduler", "triggerer", "dag-processor")
JOB_TYPES = {"triggerer": "TriggererJob", "dag-processor": "DagProcessorJob"}


def component() -> str:
    with open("/proc/1/cmdline", "rb") as f:
        argv = f.read().decode(errors="replace").split("\0")
    return next((a for a in argv if a in COMPONENTS), "")


def http_ok(url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - fixed loopback URL
            if resp.status != 200:
                sys.exit(f"{url} answered {resp.status}")
    except OSError as exc:  # URLError, HTTPError, timeouts
        sys.exit(f"{url}: {exc}")


def job_alive(job_type: str) -> None:
    import sqlalchemy  # imported here: only these components need it

    url = os.environ.get(
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        f"sqlite:///{os.environ.get('AIRFLOW_HOME', '/opt/airflow')}/airflow.db",
    )
    threshold = int(os.environ.get("AIRFLOW_HEALTHCHECK_THRESHOLD", "90"))
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        beat = conn.execute(
            sqlalchemy.text(
                "SELECT max(latest_heartbeat) FROM job"
                " WHERE job_type = :t AND hostname = :h AND state = 'running'"
            ),
            {"t": job_type, "h": socket.getfqdn()},
        ).scalar()
    if beat is None:
        sys.exit(f"no running {job_type} for {socket.getfqdn()}")
    if isinstance(beat, str):  # SQLite returns text
        beat = datetime.fromisoformat(beat)
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    age = datetime.now(UTC) - beat
    if age > timedelta(seconds=threshold):
        sys.exit(f"{job_type} heartbeat is {age.total_seconds():.0f}s old")


def main() -> None:
    which = component()
    if which in ("api-server", "standalone"):
        http_ok(
            f"http://127.0.0.1:{os.environ.get('AIRFLOW__API__PORT', '8080')}/api/v2/monitor/health"
        )
    elif which == "scheduler":
        port = os.environ.get("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT", "8974")
        http_ok(f"http://127.0.0.1:{port}/health")
    elif which in JOB_TYPES:
        job_alive(JOB_TYPES[which])
    # one-shot commands (db migrate, users create, ...) have no service to probe


if __name__ == "__main__":
    main()
