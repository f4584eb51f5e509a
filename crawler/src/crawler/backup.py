"""Wiring to the ONE backup engine, the package module_utils/acs_backup/,
which is shipped inside this package as crawler._backup_engine (a directory
symlink in the source tree; the wheel and the images carry its files)."""

from __future__ import annotations

from types import ModuleType


class BackupUnavailable(RuntimeError):
    pass


def engine() -> ModuleType:
    try:
        from crawler import _backup_engine
    except ImportError as exc:  # pragma: no cover - packaging error
        raise BackupUnavailable(
            f"backup engine not packaged (crawler/_backup_engine -> module_utils/acs_backup/): {exc}"
        ) from exc
    return _backup_engine


def error_types() -> tuple[type[BaseException], ...]:
    return (engine().BackupError,)


def run_backup(uri: str, backup_dir: str, label: str = "manual", **options) -> dict:
    return engine().run_backup(uri, str(backup_dir), label=label, **options)


def list_backups(backup_dir: str) -> list[dict]:
    return engine().list_backups(str(backup_dir))


def scan_backups(backup_dir: str) -> dict:
    """Trusted backups and the files ignored, each with its reason."""
    return engine().scan_backups(str(backup_dir))


def restore(uri: str, source: str | None, backup_dir: str, **options) -> dict:
    return engine().restore(uri, source, str(backup_dir), **options)


def restore_drill(backup_dir: str, **options) -> dict:
    """Restore the newest signed backup into a throwaway server and check it."""
    return engine().restore_drill(str(backup_dir), **options)


def last_drill(backup_dir: str) -> dict | None:
    """The last restore drill and the last that passed, as recorded; None before the first."""
    return engine().last_drill(str(backup_dir))
