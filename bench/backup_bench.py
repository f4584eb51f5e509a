#!/usr/bin/env python3
"""Backup/restore throughput of the engine next to a plain baseline, same data, same run.

    .venv/bin/python bench/backup_bench.py [--docs 1000000] [--uri mongodb://...]

Without --uri it starts its own FerretDB (/var/cache/acs-build/bin/ferretdb,
SQLite) in a temp dir. Baseline: plain `mongodump --archive --gzip` and
`mongorestore --archive --gzip --drop` when the tools are installed;
otherwise (this build machine, where they cannot be built) the least work
that moves the same data: pymongo raw batches into a gzip file, and raw
inserts back, with no archive framing, CRC, sha256, manifest or verification.
Prints numbers; asserts nothing. Goal: engine overhead within 10%.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pymongo
from bson.raw_bson import RawBSONDocument

# The engine (module_utils/acs_backup/) as the installed crawler package carries it.
from crawler import _backup_engine as engine

FERRETDB = Path(os.environ.get("ACS_FERRETDB_BIN", "/var/cache/acs-build/bin/ferretdb"))
DB = "benchdb"


def start_ferretdb(base: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (base / "data").mkdir(parents=True)
    (base / "state").mkdir()
    proc = subprocess.Popen(
        [
            str(FERRETDB),
            "--handler=sqlite",
            f"--sqlite-url=file:{base}/data/",
            f"--listen-addr=127.0.0.1:{port}",
            "--telemetry=disable",
            f"--state-dir={base}/state",
            "--log-level=error",
            "--debug-addr=-",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}/"
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=30000)
    client.admin.command("ping")
    client.close()
    return proc, uri


def seed(client, docs, batch=10000):
    coll = client[DB].pages
    coll.drop()
    for start in range(0, docs, batch):
        coll.insert_many(
            [
                {
                    "_id": i,
                    "url": f"https://example.test/item/{i}",
                    "status": 200,
                    "title": f"Item {i}",
                    "price": i % 1000 / 10,
                    "tags": ["crawl", "bench"],
                }
                for i in range(start, min(start + batch, docs))
            ],
            ordered=False,
        )
    coll.create_index("url")


def raw_bytes(client):
    stats = client[DB].command("collStats", "pages")
    return stats.get("size", 0)


def baseline_dump(uri, client, path, tools):
    if tools["mongodump"]:
        subprocess.run(
            [tools["mongodump"], f"--uri={uri}", f"--archive={path}", "--gzip", f"--db={DB}"],
            check=True,
            capture_output=True,
        )
        return raw_bytes(client)
    written = 0
    with gzip.open(path, "wb", compresslevel=6) as out:
        for batch in client[DB].pages.find_raw_batches({}, batch_size=5000, sort=[("_id", 1)]):
            out.write(batch)
            written += len(batch)
    return written


def baseline_restore(uri, client, path, tools):
    if tools["mongorestore"]:
        subprocess.run(
            [tools["mongorestore"], f"--uri={uri}", f"--archive={path}", "--gzip", "--drop"],
            check=True,
            capture_output=True,
        )
        return
    coll = client[DB].pages
    coll.drop()
    with gzip.open(path, "rb") as handle:
        stream = handle.read  # sequential reads of length-prefixed BSON
        batch = []
        while head := stream(4):
            size = struct.unpack("<i", head)[0]
            batch.append(RawBSONDocument(head + stream(size - 4)))
            if len(batch) == 1000:
                coll.insert_many(batch, ordered=True)
                batch = []
        if batch:
            coll.insert_many(batch, ordered=True)
    coll.create_index("url")


def generated_docs(docs, batch=10000):
    import bson

    for start in range(0, docs, batch):
        yield b"".join(
            bson.encode(
                {
                    "_id": i,
                    "url": f"https://example.test/item/{i}",
                    "status": 200,
                    "title": f"Item {i}",
                    "price": i % 1000 / 10,
                    "tags": ["crawl", "bench"],
                }
            )
            for i in range(start, min(start + batch, docs))
        )


def restore_only(uri, client, docs, work, tools, baseline_name):
    """Restores only (A-B-B-A): the archives are written from generated documents."""
    if tools["mongorestore"]:
        print("--restore-only compares against the plain baseline, not mongorestore")
    tools = {"mongodump": None, "mongorestore": None}
    engine_src = work / "engine-src.archive.gz"
    base_archive = work / "baseline.archive.gz"
    meta = '{"indexes":[{"v":2,"key":{"_id":1},"name":"_id_"},{"v":2,"key":{"url":1},"name":"url_1"}],"collectionName":"pages","type":"collection"}'
    with gzip.open(engine_src, "wb", compresslevel=6) as out:
        writer = engine.ArchiveWriter(out, client.server_info()["version"], "bench")
        writer.write_prelude([(DB, "pages", meta, "collection")])
        writer.write_collection(DB, "pages", generated_docs(docs))
    data = 0
    with gzip.open(base_archive, "wb", compresslevel=6) as out:
        for batch in generated_docs(docs):
            out.write(batch)
            data += len(batch)
    backup = engine.import_archive(str(engine_src), str(work / "backups"), label="bench")
    print(f"data: {data / 1e6:.1f} MB of BSON, {docs} documents; baseline: {baseline_name}")
    runs = {"base": [], "engine": []}
    for which in ("base", "engine", "engine", "base"):
        if which == "base":
            runs[which].append(timed(lambda: baseline_restore(uri, client, base_archive, tools)))
        else:
            runs[which].append(
                timed(
                    lambda: engine.restore(
                        uri, backup["path"], str(work / "backups"), skip_safety_backup=True
                    )
                )
            )
        assert engine.native._collection_count(client[DB].pages) == docs
    print(f"runs (s): {runs}")
    for which, label in (("base", "plain pymongo+gzip"), ("engine", "engine restore")):
        secs = sum(runs[which]) / 2
        print(
            f"restore  {label:40} {secs:8.1f} s {docs / secs:10,.0f} docs/s {data / 1e6 / secs:7.2f} MB/s"
        )
    base, eng = sum(runs["base"]) / 2, sum(runs["engine"]) / 2
    print(f"restore overhead: {100 * (eng / base - 1):+.1f} %")
    print()
    client_cpu(backup["path"], base_archive)


def client_cpu(engine_archive, base_archive):
    """The client's own work in a restore, without the server: the baseline's
    parse against the engine's verify pass plus its decode pass (both make
    the RawBSONDocuments insert_many sends). Server time is the same for both,
    so this is the part of the overhead the engine controls, and it does not
    drift with the server or the machine's other load as much."""

    def baseline_parse():
        with gzip.open(base_archive, "rb") as handle:
            stream = handle.read
            batch = []
            while head := stream(4):
                size = struct.unpack("<i", head)[0]
                batch.append(RawBSONDocument(head + stream(size - 4)))
                if len(batch) == 1000:
                    batch = []

    def engine_decode():
        engine.read_archive(
            str(engine_archive),
            lambda _db, _coll, batch: [RawBSONDocument(raw) for raw in batch],
            check_crc=False,
        )

    t_base = min(timed(baseline_parse) for _ in range(2))
    t_verify = min(timed(lambda: engine.verify_backup(str(engine_archive))) for _ in range(2))
    t_decode = min(timed(engine_decode) for _ in range(2))
    print(f"client CPU, baseline parse + RawBSONDocument:        {t_base:6.2f} s")
    print(f"client CPU, engine verify (sha256, gzip, CRC-64):    {t_verify:6.2f} s")
    print(f"client CPU, engine decode pass + RawBSONDocument:    {t_decode:6.2f} s")
    print(
        "client CPU, engine total vs baseline:               "
        f" {t_verify + t_decode:6.2f} s vs {t_base:.2f} s (best of 2 each)"
    )


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--uri")
    parser.add_argument(
        "--restore-only",
        action="store_true",
        help="build both archives from generated documents (no dump), then time restores",
    )
    args = parser.parse_args()

    tools = {t: engine.find_tool(t) for t in ("mongodump", "mongorestore")}
    baseline_name = "mongodump/mongorestore" if tools["mongodump"] else "plain pymongo+gzip"
    work = Path(tempfile.mkdtemp(prefix="acs-backup-bench-"))
    proc = None
    try:
        uri = args.uri
        if not uri:
            proc, uri = start_ferretdb(work / "ferretdb")
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=30000)
        print(f"server {client.server_info()['version']} at {uri}; baseline: {baseline_name}")
        print(f"engine CRC: {'anycrc (C)' if engine.archive._CRC64 is not None else 'pure Python'}")
        if args.restore_only:
            restore_only(uri, client, args.docs, work, tools, baseline_name)
            return
        seconds = timed(lambda: seed(client, args.docs))
        print(
            f"seeded {args.docs} documents in {seconds:.1f} s ({args.docs / seconds:,.0f} docs/s)"
        )
        # A-B-B-A order cancels drift (the server warming up, other load).
        rows = []
        base_archive = work / "baseline.archive.gz"
        sizes = []
        result = {}

        def engine_dump():
            shutil.rmtree(work / "backups", ignore_errors=True)
            result.update(
                engine.run_backup(
                    uri, str(work / "backups"), label="bench", databases=[DB], method="auto"
                )
            )

        def base_dump():
            sizes.append(baseline_dump(uri, client, base_archive, tools))

        def engine_restore():
            engine.restore(uri, result["path"], str(work / "backups"), skip_safety_backup=True)

        def base_restore():
            baseline_restore(uri, client, base_archive, tools)

        dumps = {"base": [], "engine": []}
        for which in ("base", "engine", "engine", "base"):
            dumps[which].append(timed(base_dump if which == "base" else engine_dump))
        data_mb = sizes[0] / 1e6
        print(f"data: {data_mb:.1f} MB of BSON")
        t_verify = timed(lambda: engine.verify_backup(result["path"]))
        restores = {"base": [], "engine": []}
        for which in ("base", "engine", "engine", "base"):
            restores[which].append(timed(base_restore if which == "base" else engine_restore))

        def mean(values):
            return sum(values) / len(values)

        t_base_dump, t_engine_dump = mean(dumps["base"]), mean(dumps["engine"])
        t_base_restore, t_engine_restore = mean(restores["base"]), mean(restores["engine"])
        base_size = base_archive.stat().st_size
        rows.append(("backup", baseline_name, t_base_dump, base_size))
        label = f"engine ({result['method']}, +manifest, sha256, CRC)"
        rows.append(("backup", label, t_engine_dump, result["size"]))
        rows.append(("verify", "engine verify_backup (full read)", t_verify, result["size"]))
        rows.append(("restore", baseline_name, t_base_restore, base_size))
        label = "engine (verify first, count check after)"
        rows.append(("restore", label, t_engine_restore, result["size"]))
        print(f"runs (s): dump {dumps}, restore {restores}")
        assert engine.native._collection_count(client[DB].pages) == args.docs

        print()
        print(
            f"{'phase':8} {'how':48} {'seconds':>8} {'docs/s':>10} {'MB/s':>7} {'archive MB':>10}"
        )
        for phase, how, secs, size in rows:
            print(
                f"{phase:8} {how:48} {secs:8.1f} {args.docs / secs:10,.0f} "
                f"{data_mb / secs:7.2f} {size / 1e6:10.1f}"
            )
        print()
        print(f"backup overhead:  {100 * (t_engine_dump / t_base_dump - 1):+.1f} %")
        print(f"restore overhead: {100 * (t_engine_restore / t_base_restore - 1):+.1f} %")
        print("(goal: within +10 %; the machine's load varies, run it twice to see the noise)")
        print()
        client_cpu(result["path"], base_archive)
        client.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
