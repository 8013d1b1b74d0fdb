"""The real WSGI server: health page, admin sign-in, and an audited log.

The test starts gunicorn on a free loopback port with its own database copy,
as the README's run command does, and drives it with httpx.
"""

import json
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO_ROOT, manage_env, run_manage


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(gateway_db):
    from django.db import connections

    connections["default"].close()
    port = free_port()
    gunicorn = REPO_ROOT / ".venv" / "bin" / "gunicorn"
    command = [
        str(gunicorn) if gunicorn.exists() else sys.executable,
        *([] if gunicorn.exists() else ["-m", "gunicorn"]),
        "ibkr_gateway.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=manage_env(gateway_db),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/health/", timeout=1)
            break
        except httpx.TransportError:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited: {process.stderr.read()}")
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("gunicorn did not answer within 30 seconds")

    yield base
    process.terminate()
    process.wait(timeout=20)


def sign_in(base, username, password):
    with httpx.Client(base_url=base, timeout=10) as client:
        form = client.get("/admin/login/")
        token = re.search(
            r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text
        ).group(1)
        return client.post(
            "/admin/login/?next=/admin/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": token,
            },
        )


def test_health_page_answers_with_request_id(server):
    response = httpx.get(f"{server}/health/", timeout=10)

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert len(response.headers["X-Request-ID"]) == 36


def test_admin_login_page_served(server):
    response = httpx.get(f"{server}/admin/login/", timeout=10)

    assert response.status_code == 200
    assert "csrfmiddlewaretoken" in response.text


def test_failed_sign_in_lands_in_verified_log(server, gateway_db):
    response = sign_in(server, "nobody", "wrong-password-value")

    assert response.status_code == 200
    result = run_manage("audit", "tail", "--json", db_path=gateway_db)
    kinds = [event["event_type"] for event in json.loads(result.stdout)["events"]]
    assert "login_failed" in kinds
    verify = run_manage("audit", "verify", "--json", db_path=gateway_db)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_server_refuses_to_start_with_invalid_config(gateway_db, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[audit]\n")
    env = manage_env(
        gateway_db,
        IBKR_GATEWAY_CONFIG=str(config),
        DJANGO_SECRET_KEY="test-secret-key-for-subprocesses-only",
    )

    result = subprocess.run(
        [sys.executable, "-c", "import ibkr_gateway.wsgi"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "audit.correlation_secret_env" in result.stderr
