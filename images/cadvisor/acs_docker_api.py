"""A GET-only client of the Docker engine API (unix socket or TCP), with the
streaming answer of /events, for acs-local/cadvisor; the standard library
only, as the image has no docker SDK."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class DockerAPI:
    """GET-only client of the engine API (cAdvisor's --docker address)."""

    def __init__(self, address, timeout=10.0):
        parsed = urllib.parse.urlparse(address)
        if parsed.scheme == "unix":
            self._connect = lambda t: UnixHTTPConnection(parsed.path, t)
        elif parsed.scheme in ("tcp", "http"):
            self._connect = lambda t: http.client.HTTPConnection(parsed.netloc, timeout=t)
        else:
            raise ValueError(f"--docker {address!r}: use unix:///path or tcp://host:port")
        self.timeout = timeout

    def _open(self, path, timeout):
        conn = self._connect(timeout)
        conn.request("GET", path)
        response = conn.getresponse()
        if response.status != 200:
            body = response.read(500).decode(errors="replace")
            conn.close()
            raise OSError(f"docker API GET {path}: {response.status} {body}")
        return conn, response

    def get(self, path):
        conn, response = self._open(path, self.timeout)
        try:
            return json.loads(response.read())
        finally:
            conn.close()

    def stream(self, path):
        """JSON objects of a streaming answer (the events endpoint), one by one."""
        conn, response = self._open(path, None)
        try:
            decoder = json.JSONDecoder()
            buffer = ""
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    return
                buffer += chunk.decode()
                while True:
                    buffer = buffer.lstrip()
                    try:
                        obj, end = decoder.raw_decode(buffer)
                    except ValueError:
                        break
                    buffer = buffer[end:]
                    yield obj
        finally:
            conn.close()
