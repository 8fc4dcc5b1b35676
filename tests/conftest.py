"""Shared fixtures: the default penguin pipeline is run once per session and many tests read it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# a payload file missing from a published artifact fails the test (components/common/payloads.py),
# in this process and in the runs it starts, instead of blanking a report section
os.environ["TFX_YAML_STRICT_PAYLOADS"] = "1"

REPO = Path(__file__).resolve().parents[1]
PENGUIN_YAML = REPO / "pipelines" / "penguin" / "pipeline.yaml"
PENGUIN_CSV = REPO / "pipelines" / "penguin" / "data" / "penguins_raw.csv"


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python pipelines/local_runner.py ARGS` as a user runs it (with `env` added). Importing TFX
    here set TF_USE_LEGACY_KERAS=1 in this process; a user's shell does not have it."""
    inherited = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env = {**inherited, "PYTHONPATH": "", **(env or {})}
    return subprocess.run([sys.executable, str(REPO / "pipelines" / "local_runner.py"), *args],
                          cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


class PipelineRun:
    def __init__(self, root: Path, result: subprocess.CompletedProcess, tmpdir: Path | None = None):
        self.root, self.result, self.tmpdir = root, result, tmpdir
        self.stdout = result.stdout
        self.metadata = root / "metadata.sqlite"
        self.serving = root / "serving"


@pytest.fixture(scope="session")
def penguin_run(tmp_path_factory) -> PipelineRun:
    """The bundled pipeline, run once with no flags but --root, exactly as the README says."""
    root, tmpdir = tmp_path_factory.mktemp("penguin"), tmp_path_factory.mktemp("penguin-tmpdir")
    result = run_cli("--root", str(root), env={"TMPDIR": str(tmpdir)})
    assert result.returncode == 0, result.stdout + result.stderr
    return PipelineRun(root, result, tmpdir)


def write_spec(tmp_path: Path, text: str, name: str = "pipeline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class ObjectStore:
    """A real S3 API server (moto's server mode) on 127.0.0.1, with one bucket."""

    bucket = "pipelines"
    access_key, secret_key, region = "test-access-key", "test-secret-key", "us-east-1"

    def __init__(self, port: int):
        self.endpoint = f"http://127.0.0.1:{port}"

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)

    def env(self) -> dict[str, str]:
        """What a process needs to reach the store: tensorflow-io's S3 and boto3 (Beam) settings."""
        return {"S3_ENDPOINT": self.endpoint, "AWS_ENDPOINT_URL_S3": self.endpoint, "S3_USE_HTTPS": "0",
                "S3_VERIFY_SSL": "0", "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
                "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def upload(self, local: Path, key: str) -> str:
        self.client().upload_file(str(local), self.bucket, key)
        return f"s3://{self.bucket}/{key}"

    def keys(self, prefix: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@pytest.fixture(scope="session")
def object_store() -> ObjectStore:
    """moto's S3 server, started for the test session and stopped after it."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = ObjectStore(port)
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(store.endpoint, timeout=1)
            break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"moto's S3 server did not start on {store.endpoint}")
            time.sleep(0.2)
    store.client().create_bucket(Bucket=store.bucket)
    yield store
    server.terminate()
    server.wait(timeout=10)


class Browser:
    """Headless Chromium (Debian's `chromium`) driven by Playwright: what a user sees of a page."""

    def __init__(self, playwright, executable: str):
        self.browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])

    def open(self, path: Path, screenshot: Path):
        """The page of a local file, after load: (page, console errors, requests made), with a
        full-page screenshot saved to `screenshot`."""
        page = self.browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(5000)
        errors, requests = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri(), wait_until="load")
        page.screenshot(path=str(screenshot), full_page=True)
        return page, errors, requests


@pytest.fixture(scope="session")
def browser():
    import shutil

    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        pytest.fail("the report tests need Chromium: apt-get install chromium (scripts/setup.sh and .ci/run "
                    "install it), or set CHROMIUM to its path")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield Browser(playwright, executable)


class MariaDB:
    """A MariaDB server on 127.0.0.1 with a user for ML Metadata; the password only in `env()`."""

    user, password_env = "mlmd", "MLMD_TFX_YAML_TEST_PASSWORD"

    def __init__(self, port: int, password: str):
        self.host, self.port, self.password = "127.0.0.1", port, password

    def env(self) -> dict[str, str]:
        return {self.password_env: self.password}

    def section(self, database: str) -> str:
        """The spec's runtime.metadata, as a YAML flow mapping."""
        return (f"{{type: mysql, host: {self.host}, port: {self.port}, database: {database}, "
                f"user: {self.user}, password_env: {self.password_env}}}")


def _tls_files(folder: Path) -> Path:
    """A test certificate authority (ca.pem), a server certificate it signed for IP 127.0.0.1
    (server.pem, server.key), a client certificate (client.pem, client.key) and an unrelated
    authority (other-ca.pem), made with openssl."""
    folder.mkdir(parents=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN=tfx-yaml test {ca}")
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:127.0.0.1\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=mlmd-tls")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", subject)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", *(["-extfile", "san.cnf"] if name == "server" else []))
    return folder


@pytest.fixture(scope="session")
def mariadb():
    """Debian's mariadb-server started for the test session (own data folder, a free port on
    127.0.0.1), and stopped after it."""
    import getpass
    import secrets
    import shutil
    import socket
    import tempfile
    import time

    server, install = shutil.which("mariadbd") or "/usr/sbin/mariadbd", shutil.which("mariadb-install-db")
    if not (os.path.exists(server) and install):
        pytest.fail("the ML Metadata server tests need MariaDB: apt-get install mariadb-server "
                    "(scripts/setup.sh and .ci/run install it)")
    folder = Path(tempfile.mkdtemp(prefix="mariadb-"))  # short: a socket path has a length limit
    user = getpass.getuser()
    subprocess.run([install, "--no-defaults", f"--datadir={folder / 'data'}", f"--user={user}",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, capture_output=True, timeout=120)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # TLS offered (not required) to every user; tests add users that require it
    tls = _tls_files(folder / "tls")
    process = subprocess.Popen([server, "--no-defaults", f"--datadir={folder / 'data'}", f"--port={port}",
                                "--bind-address=127.0.0.1", f"--socket={folder / 'sock'}", f"--user={user}",
                                f"--pid-file={folder / 'pid'}", f"--log-error={folder / 'error.log'}",
                                f"--ssl-ca={tls / 'ca.pem'}", f"--ssl-cert={tls / 'server.pem'}",
                                f"--ssl-key={tls / 'server.key'}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = [shutil.which("mariadb") or "mysql", "--no-defaults", f"--socket={folder / 'sock'}", "-uroot"]
    deadline = time.time() + 60
    while subprocess.run([*client, "-e", "SELECT 1"], capture_output=True, check=False).returncode != 0:
        if time.time() > deadline or process.poll() is not None:
            process.kill()
            log = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
            pytest.fail(f"MariaDB did not start on port {port}: {log[-2000:]}")
        time.sleep(0.3)
    db = MariaDB(port, "pw-" + secrets.token_hex(12))
    db.socket = str(folder / "sock")  # root's own connection, for tests that add users
    db.tls = tls  # ca.pem (signed server.pem, for IP 127.0.0.1, and client.pem/client.key), other-ca.pem
    grant = (f"CREATE USER '{db.user}'@'127.0.0.1' IDENTIFIED BY '{db.password}'; "
             f"GRANT ALL ON *.* TO '{db.user}'@'127.0.0.1';")
    subprocess.run([*client, "-e", grant], check=True, capture_output=True)
    yield db
    process.terminate()
    process.wait(timeout=60)
    shutil.rmtree(folder, ignore_errors=True)
