# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Restore drill: prove that a backup restores, without touching the
operator's data.

The newest trusted backup (not a ``pre-restore`` safety backup), or the one
named, is verified (signature, size, sha256, read to its end: CRCs and
counts), then restored into a throwaway server (throwaway.py: a one-off
container from the stack's mongodb image on an internal network of its own,
removed afterwards) by the runner a restore would use (``choose_runner``:
the tools on this host, in the throwaway container, or native), and the
restored copy is checked against the manifest: document counts, index
specifications and the sample hashes recorded at backup time (content.py).
A manifest made before those were recorded is still drilled; the checks it
cannot support are ``skipped`` with the reason.

The result (``passed``/``failed``, each check, durations: ``rto_seconds``
from the server's start to the restored copy, indexes built; ``check_seconds``
the checks after it) is returned and kept
in ``<backup_dir>/.restore-drill.json`` (``last`` and ``last_passed``), which
the API's metrics and the status reports read (``last_drill``).
"""

from __future__ import annotations

import os
import tempfile
import time

from .common import _iso, _stem, manifest_path_for, pymongo, utcnow
from .content import restored_content
from .errors import BackupError, _PartialRestore
from .listing import read_manifest_file, scan_backups
from .manifest import _verify, _write_json_atomic, manifest_counts
from .native import _client, _current_counts
from .restoring import resolve_source
from .runners import choose_runner
from .signing import resolve_key
from .throwaway import DRILL_PREFIX, stack_mongodb_image, throwaway_server

RECORD_FILE = ".restore-drill.json"
CHECKS = ("trust", "archive", "restore", "counts", "indexes", "sample", "cleanup")


def _choose(backup_dir, source, key, s3, identity, download_dir, safety_label):
    """(archive path, detail) of the backup to drill; BackupError when it is not trusted."""
    if source:
        archive = resolve_source(
            source,
            backup_dir,
            s3=s3,
            download_dir=download_dir,
            signing_key=key,
            identity_file=identity,
        )
        return archive, f"{_stem(archive)}: signed with this stack's key"
    scan = scan_backups(backup_dir, key, verify=False)
    newest = next((b for b in scan["backups"] if b.get("label") != safety_label), None)
    # A newer manifest that is not trusted is not passed over: the drill fails on it.
    newer = [
        r
        for r in scan["rejected"]
        if not r.get("orphan") and (newest is None or r["name"] > newest["name"])
    ]
    if newer:
        shown = "; ".join(f"{r['name']}: {r['reason']}" for r in newer)
        raise BackupError(
            f"the newest backups are not trusted ({shown}): they would not restore; find out "
            "why (unsigned: is the signing key configured for the backup job? a mismatch: "
            "the manifest was altered), then take a new backup"
        )
    if newest is None:
        raise BackupError(f"no signed backup in {backup_dir} to drill")
    return newest["path"], f"{newest['name']}: newest signed backup"


def _content_checks(client, manifest):
    """The counts, indexes and sample checks of a restored copy."""
    counts = manifest_counts(manifest)
    after = _current_counts(client, counts)
    wrong = {
        f"{db}.{c}": {"restored": (after.get(db) or {}).get(c), "manifest": n}
        for db, colls in counts.items()
        for c, n in colls.items()
        if (after.get(db) or {}).get(c) != n
    }
    checks = [_item("counts", not wrong, wrong or f"{sum(map(len, counts.values()))} collections")]
    content = manifest.get("content")
    if not content:
        why = (
            f"not recorded in the manifest (made by engine "
            f"{(manifest.get('engine') or {}).get('version', '?')}); take a new backup to have "
            "it checked"
        )
        return [*checks, _item("indexes", None, why), _item("sample", None, why)]
    size = int((content.get("sample") or {}).get("size") or 0)
    bad_ix, bad_sample, sampled = {}, {}, 0
    for db, entry in sorted(manifest["databases"].items()):
        for coll, info in sorted(entry["collections"].items()):
            if "indexes" not in info:
                continue
            indexes, hashes = restored_content(client, db, coll, size)
            if indexes != info["indexes"]:
                bad_ix[f"{db}.{coll}"] = {"restored": indexes, "manifest": info["indexes"]}
            want = info.get("sample_sha256") or []
            sampled += len(want)
            if sorted(hashes) != sorted(want):
                differ = len(set(want) ^ set(hashes))
                bad_sample[f"{db}.{coll}"] = f"{differ} of {len(want)} sample hashes differ"
    checks.append(_item("indexes", not bad_ix, bad_ix or "every index as recorded"))
    checks.append(
        _item("sample", not bad_sample, bad_sample or f"{sampled} documents hash as recorded")
    )
    return checks


def _item(name, ok, detail):
    status = "skipped" if ok is None else "passed" if ok else "failed"
    return {"name": name, "status": status, "detail": detail}


def _restore_checked(archive, manifest, verified, image, result, method, tools_dir, timeout):
    """Start the throwaway server, restore into it, check; appends to result["checks"]."""
    checks = result["checks"]
    t0 = time.monotonic()
    server = {}
    stage = "restore"  # the check an error is reported under
    try:
        with throwaway_server(image, timeout, server):
            result["throwaway"] = {k: server[k] for k in ("image", "network", "container")}
            container = server["container"] if method in ("auto", "docker") else None
            runner = choose_runner(
                "mongorestore", server["uri"], method, container=container, tools_dir=tools_dir
            )
            result["method"] = runner.method
            client = _client(server["uri"])
            try:
                t1 = time.monotonic()
                runner.restore(archive, client, verified)
                t2 = time.monotonic()
                result["restore_seconds"] = round(t2 - t1, 3)
                # Recovery time: a server started and the data (and indexes) restored.
                result["rto_seconds"] = round(t2 - t0, 3)
                checks.append(_item("restore", True, f"restored with method {runner.method}"))
                stage = "counts"
                checks.extend(_content_checks(client, manifest))
                result["check_seconds"] = round(time.monotonic() - t2, 3)
            finally:
                client.close()
    except (BackupError, _PartialRestore, pymongo.errors.PyMongoError) as exc:
        checks.append(_item(stage, False, str(exc)))
    removed = server.get("removed", True)
    checks.append(
        _item(
            "cleanup",
            removed,
            "throwaway container and network removed"
            if removed
            else f"left behind: {DRILL_PREFIX}{server.get('tag')}",
        )
    )


def restore_drill(
    backup_dir="/data/backups",
    source=None,
    image=None,
    s3=None,
    signing_key=None,
    project=None,
    age_identity_file=None,
    check_mode=False,
    method="auto",
    tools_dir=None,
    ready_timeout=120.0,
    record=True,
    safety_label="pre-restore",
):
    """Drill one backup (see the module docstring); returns the result dict.
    Drill failures are in the result (``result: failed``), never raised.
    ``image`` defaults to that of the running compose mongodb service (of
    compose ``project`` when given)."""
    started, t0 = utcnow(), time.monotonic()
    checks = []
    result = {
        "changed": False,
        "check_mode": check_mode,
        "result": "failed",
        "backup": None,
        "archive": None,
        "checks": checks,
        "rto_seconds": None,
        "restore_seconds": None,
    }
    key = resolve_key(signing_key)
    with tempfile.TemporaryDirectory(prefix=DRILL_PREFIX) as download_dir:
        try:
            archive, detail = _choose(
                backup_dir, source, key, s3, age_identity_file, download_dir, safety_label
            )
            checks.append(_item("trust", True, detail))
            result.update(archive=archive, backup=_stem(archive))
        except BackupError as exc:
            checks.append(_item("trust", False, str(exc)))
            return _finish(result, backup_dir, started, t0, record and not check_mode)
        if check_mode:
            return _plan(result, archive, stack_mongodb_image(image, project), method)
        try:
            manifest, verified = _verify(archive)
            checks.append(_item("archive", True, "size, sha256, CRCs and counts as signed"))
        except BackupError as exc:
            checks.append(_item("archive", False, str(exc)))
            return _finish(result, backup_dir, started, t0, record)
        try:
            image = stack_mongodb_image(image, project)
        except BackupError as exc:
            checks.append(_item("restore", False, str(exc)))
            return _finish(result, backup_dir, started, t0, record)
        _restore_checked(
            archive, manifest, verified, image, result, method, tools_dir, ready_timeout
        )
    return _finish(result, backup_dir, started, t0, record)


def _plan(result, archive, image, method):
    manifest, _reason = read_manifest_file(manifest_path_for(archive))
    content = (manifest or {}).get("content")
    result.update(
        result="planned",
        plan={
            "verify": archive,
            "image": image,
            "network": f"{DRILL_PREFIX}<random> (internal, no other container)",
            "container": f"{DRILL_PREFIX}<random>, removed afterwards",
            "method": method,
            "checks": [c for c in CHECKS if content or c not in ("indexes", "sample")],
            "not_checkable": [] if content else ["indexes", "sample"],
        },
    )
    return result


def _finish(result, backup_dir, started, t0, record):
    failed = [c["name"] for c in result["checks"] if c["status"] == "failed"]
    result.update(
        result="failed" if failed else "passed",
        failed_checks=failed,
        skipped_checks=[c["name"] for c in result["checks"] if c["status"] == "skipped"],
        started_at=_iso(started),
        finished_at=_iso(utcnow()),
        duration_seconds=round(time.monotonic() - t0, 3),
    )
    if record:
        _record(backup_dir, result)
        result["changed"] = True
    return result


def _record(backup_dir, result):
    summary = {
        k: result.get(k)
        for k in (
            "backup",
            "result",
            "failed_checks",
            "skipped_checks",
            "started_at",
            "finished_at",
            "duration_seconds",
            "rto_seconds",
            "restore_seconds",
            "check_seconds",
        )
    }
    state = last_drill(backup_dir) or {}
    state["last"] = summary
    if summary["result"] == "passed":
        state["last_passed"] = summary
    os.makedirs(backup_dir, mode=0o750, exist_ok=True)
    _write_json_atomic(os.path.join(backup_dir, RECORD_FILE), state)


def last_drill(backup_dir):
    """{"last": summary, "last_passed": summary} of the drills recorded, or None."""
    state, _reason = read_manifest_file(os.path.join(backup_dir, RECORD_FILE))
    return state if isinstance(state, dict) else None
