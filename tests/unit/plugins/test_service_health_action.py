"""service_health's action plugin: on a local connection the probes run in the
playbook's process, with the module's options, result and masking; any other
target (here: become, which a module start needs) still runs the module."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
SECRET = "read-key-4f1c9a"


class _EchoHeaders(BaseHTTPRequestHandler):
    """Answers every GET with the request's X-API-Key in the JSON body, as an
    API that echoes a credential would."""

    def do_GET(self):
        body = json.dumps({"status": "ok", "seen_key": self.headers.get("X-API-Key")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def echo_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeaders)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _play(tmp_path, task, become=False):
    """(result of the task, AnsiballZ files the run left behind)."""
    tmp_path.mkdir(exist_ok=True)
    remote_tmp = tmp_path / "remote-tmp"
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text(
        "[defaults]\n"
        f"library = {REPO / 'library'}\n"
        f"module_utils = {REPO / 'module_utils'}\n"
        f"action_plugins = {REPO / 'plugins' / 'action'}\n"
        f"remote_tmp = {remote_tmp}\n"
        "stdout_callback = ansible.posix.json\n"
        "retry_files_enabled = false\n"
    )
    play = {"name": "t", "hosts": "localhost", "gather_facts": False, "tasks": [task]}
    if become:
        play.update(become=True, become_method="ansible.builtin.su", become_user="root")
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([play]))
    cmd = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        str(playbook),
    ]
    # Kept, so that a module start shows as its AnsiballZ file.
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), ANSIBLE_KEEP_REMOTE_FILES="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"not JSON:\n{proc.stdout}\n{proc.stderr}") from None
    result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return result, sorted(p.name for p in remote_tmp.rglob("AnsiballZ_*"))


def _health_task(echo_url, closed_port):
    return {
        "name": "health",
        "service_health": {
            "targets": [
                {
                    "name": "api",
                    "type": "http",
                    "url": f"{echo_url}/health",
                    "json_path": "status",
                    "json_value": "ok",
                    "headers": {"X-API-Key": SECRET},
                    "return_json": True,
                },
                {"name": "down", "type": "tcp", "host": "127.0.0.1", "port": closed_port},
            ]
        },
        "ignore_errors": True,
    }


def _comparable(result):
    targets = {
        name: {k: v for k, v in t.items() if k != "latency_ms"}
        for name, t in result["targets"].items()
    }
    return (
        result.get("failed"),
        result["msg"],
        result["healthy"],
        result["unhealthy"],
        targets,
    )


def test_local_probes_run_in_process_with_the_modules_result(tmp_path, echo_url, closed_port):
    task = _health_task(echo_url, closed_port)
    local, local_files = _play(tmp_path / "local", task)
    module, module_files = _play(tmp_path / "module", task, become=True)

    assert local_files == [], "a local connection started the module"
    assert module_files == ["AnsiballZ_service_health.py"]
    assert _comparable(local) == _comparable(module)
    assert local["failed"] is True
    assert local["healthy"] == ["api"] and local["unhealthy"] == ["down"]
    assert local["msg"].startswith("unhealthy: down (")


def test_values_of_no_log_options_never_appear_in_the_result(tmp_path, echo_url, closed_port):
    result, _ = _play(tmp_path, _health_task(echo_url, closed_port))

    assert result["targets"]["api"]["json"]["seen_key"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert SECRET not in json.dumps(result)


def test_bad_option_fails_naming_the_field_without_probing(tmp_path):
    task = {
        "name": "health",
        "service_health": {"targets": [{"name": "x", "type": "ftp", "url": "ftp://h"}]},
        "ignore_errors": True,
    }
    result, files = _play(tmp_path, task)

    assert files == []
    assert result["failed"] is True
    assert "type" in result["msg"] and "http, tcp, mongodb, selenium, airflow" in result["msg"]
    assert "targets" not in result
