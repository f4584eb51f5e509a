"""Shared by the backup tests: paths, the engine import, data snapshots."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
BIN_DIR = Path(os.environ.get("ACS_BUILD_DIR", "/var/cache/acs-build")) / "bin"
# The engine is a plain file in module_utils/, loaded the same way here.
sys.path.insert(0, str(REPO / "module_utils"))


def snapshot(client, databases=("crawler", "metrics")):
    """Every document and index name, for 'data unchanged' assertions."""
    state = {}
    for db in databases:
        for coll in sorted(client[db].list_collection_names()):
            docs = list(client[db][coll].find({}, sort=[("_id", 1)]))
            indexes = sorted(ix["name"] for ix in client[db][coll].list_indexes())
            state[f"{db}.{coll}"] = (docs, indexes)
    return state
