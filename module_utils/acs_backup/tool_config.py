# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Passwords off the command line of mongodump and mongorestore.

A URI with a password on a command line is readable by every local user in
the process table (/proc/<pid>/cmdline, ps), and Docker keeps an exec's or a
container's command in its inspect output. The database tools (100.3.0 and
later) read the URI from a YAML file instead: ``--config=<file>`` with the key
``uri``, the way their documentation recommends for passwords. The
runners write that file mode 0600 and remove it after the run, on this host
(``host_tool_config``) or inside the container (containers.file_in_container).
A URI without a password stays on the command line: nothing to hide, and it
works with tools older than 100.3.0.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from urllib.parse import urlsplit, urlunsplit


def redact_uri(uri):
    """The URI with its password replaced, for reports and messages."""
    if not has_password(uri):
        return uri
    parts = urlsplit(uri)
    user, host = parts.netloc.rsplit("@", 1)
    netloc = "{}:********@{}".format(user.split(":", 1)[0], host)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def has_password(uri):
    """True when the URI carries a password (user:password@host)."""
    netloc = urlsplit(uri).netloc
    return "@" in netloc and ":" in netloc.rsplit("@", 1)[0]


def tool_config(uri):
    """The --config file of the tools for ``uri``: one YAML key, uri. A JSON
    string is a YAML double-quoted scalar, so any character in the password is safe."""
    return ("uri: " + json.dumps(uri) + "\n").encode()


@contextlib.contextmanager
def host_tool_config(uri):
    """Path of a 0600 --config file holding ``uri``, removed on exit; None without a password."""
    if not has_password(uri):
        yield None
        return
    fd, path = tempfile.mkstemp(prefix="acs-mongo-tools-", suffix=".yaml")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(tool_config(uri))
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def planned_config(uri):
    """What check mode shows in place of the --config path."""
    return f"<0600 file, removed afterwards, with uri: {redact_uri(uri)}>"
