"""age encryption of the backups' S3 copies (encryption.py) without a server:
recipients and identity files, the stored copy's checksum, wrong keys. Every
key is generated here, in tmp_path; none is committed."""

from __future__ import annotations

import hashlib

import pytest
from pyrage import x25519

from crawler import _backup_engine as engine

enc = engine.encryption


def write_identity(path):
    """An identity file as age-keygen writes it; returns (identity, public key)."""
    identity = x25519.Identity.generate()
    public = str(identity.to_public())
    path.write_text(
        f"# created: 2026-12-03T00:00:00Z\n# public key: {public}\n{identity}\n", encoding="utf-8"
    )
    path.chmod(0o600)
    return identity, public


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "20261203T000000Z-x.archive.gz"
    path.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4000)
    return path


def _encrypt(archive, public):
    dest = archive.with_name(archive.name + ".age")
    info = enc.encrypt_archive(str(archive), str(dest), enc.parse_recipients([public]))
    manifest = {"name": "20261203T000000Z-x", "encryption": info}
    return dest, manifest


def test_round_trip_and_the_manifest_block(tmp_path, archive):
    _, public = write_identity(tmp_path / "id.txt")
    dest, manifest = _encrypt(archive, public)
    info = manifest["encryption"]
    stored = dest.read_bytes()
    assert stored.startswith(b"age-encryption.org/v1\n")
    assert archive.read_bytes() not in stored
    assert info["recipients"] == [public] and info["scheme"] == "age"
    assert info["size"] == len(stored)
    assert info["sha256"] == hashlib.sha256(stored).hexdigest()
    assert info["archive"] == archive.name + ".age"
    # The stored copy verifies with the manifest alone: no identity involved.
    assert enc.verify_encrypted(str(dest), manifest) == info["sha256"]
    out = tmp_path / "plain"
    enc.decrypt_archive(str(dest), str(out), str(tmp_path / "id.txt"), manifest)
    assert out.read_bytes() == archive.read_bytes()


def test_a_changed_byte_of_the_stored_copy_fails_verification(tmp_path, archive):
    _, public = write_identity(tmp_path / "id.txt")
    dest, manifest = _encrypt(archive, public)
    data = bytearray(dest.read_bytes())
    data[-10] ^= 1
    dest.write_bytes(bytes(data))
    with pytest.raises(engine.BackupError, match="does not match its manifest"):
        enc.verify_encrypted(str(dest), manifest)


def test_a_wrong_identity_names_the_recipients_and_leaves_nothing(tmp_path, archive):
    _, public = write_identity(tmp_path / "right.txt")
    wrong, wrong_public = write_identity(tmp_path / "wrong.txt")
    dest, manifest = _encrypt(archive, public)
    out = tmp_path / "plain"
    with pytest.raises(engine.BackupError) as failed:
        enc.decrypt_archive(str(dest), str(out), str(tmp_path / "wrong.txt"), manifest)
    message = str(failed.value)
    assert "age_identity_file=" in message and public in message and wrong_public in message
    assert str(wrong) not in message
    assert not out.exists()


def test_an_identity_file_that_is_missing_or_not_one_names_the_option(tmp_path):
    with pytest.raises(engine.BackupError, match=r"age_identity_file=.*cannot be read"):
        enc.load_identities(str(tmp_path / "absent.txt"))
    secretish = "AGE-SECRET-KEY-1NOTAVALIDKEYBUTLOOKSLIKEONE"
    bad = tmp_path / "bad.txt"
    bad.write_text(f"# a comment\n{secretish}\n")
    with pytest.raises(engine.BackupError, match="line 2 is not an age X25519 identity") as failed:
        enc.load_identities(str(bad))
    assert secretish not in str(failed.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(engine.BackupError, match="holds no age identity"):
        enc.load_identities(str(empty))


def test_recipients_are_checked_and_a_private_key_is_never_echoed(tmp_path):
    identity, public = write_identity(tmp_path / "id.txt")
    assert [str(r) for r in enc.parse_recipients([public, public])] == [public]
    assert enc.parse_recipients(None) == [] and enc.parse_recipients([]) == []
    with pytest.raises(engine.BackupError, match=r"age_recipients\[0\] is an age IDENTITY") as bad:
        enc.parse_recipients([str(identity)])
    assert str(identity) not in str(bad.value)
    with pytest.raises(engine.BackupError, match=r"age_recipients\[1\]=age1nope is not an age"):
        enc.parse_recipients([public, "age1nope"])


def test_restoring_an_encrypted_local_copy_without_identity_names_the_option(tmp_path, archive):
    """A .archive.gz.age fetched by hand, beside its manifest: refused without the
    identity before anything else happens (no server is reached)."""
    _, public = write_identity(tmp_path / "id.txt")
    dest, manifest = _encrypt(archive, public)
    archive.unlink()  # only the encrypted copy is here
    manifest.update(
        format=engine.common.MANIFEST_FORMAT,
        archive=archive.name,
        size=1,
        sha256="0" * 64,
        started_at="2026-12-03T00:00:00.000000Z",
        finished_at="2026-12-03T00:00:01.000000Z",
        databases={},
    )
    engine.signing.sign(manifest, engine.signing.resolve_key())
    engine.manifest._write_json_atomic(
        str(tmp_path / f"{manifest['name']}.manifest.json"), manifest
    )
    with pytest.raises(engine.BackupError, match="pass age_identity_file=PATH"):
        engine.restoring.resolve_source(str(dest), str(tmp_path / "backups"))
    assert not archive.exists()
