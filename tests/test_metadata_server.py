"""ML Metadata on a real MySQL-compatible server (MariaDB, started by the `mariadb` fixture): two
penguin runs share it (caching, the serving baseline), `runs`, `report` and lineage read it, and
the password is nowhere but in the environment. A wrong password or a server that is not there is
exit 2 before anything runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.runs.lineage import pushed_versions
from pipelines.runs.metadata import Store
from tests.conftest import REPO, run_cli, write_spec

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def spec(tmp_path, metadata: str, max_epochs: int = 60, name: str = "pipeline.yaml"):
    return write_spec(tmp_path, f"""
name: penguin-shared
data: {{path: {REPO / 'pipelines' / 'penguin' / 'data'}, label: species}}
trainer: {{max_epochs: {max_epochs}}}
runtime:
  root: {tmp_path / 'root'}
  metadata: {metadata}
""", name)


def tfx_yaml(*args: str, env: dict) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=300, check=False)


def test_two_runs_share_a_mariadb_store(tmp_path, mariadb, monkeypatch):
    env = mariadb.env()
    first = run_cli("--config", str(spec(tmp_path, mariadb.section("mlmd_shared"))), env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"ML Metadata at mysql://{mariadb.user}@127.0.0.1:{mariadb.port}/mlmd_shared" in first.stdout
    assert "pushed: " in first.stdout and not (tmp_path / "root" / "metadata.sqlite").exists()

    # another trainer setting: ExampleGen and StatisticsGen come from the server's cache; SchemaGen
    # runs again (its serving_digest changed: it reads version 1's schema, which serves now, where the
    # first run inferred one), and so Batching; the Trainer runs, and the Evaluator compares with version 1
    second = run_cli("--config",
                     str(spec(tmp_path, mariadb.section("mlmd_shared"), max_epochs=40, name="b.yaml")),
                     env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    run_line = next(line for line in second.stdout.splitlines() if line.startswith("run "))
    for stage in ("ExampleGen", "StatisticsGen"):
        assert f"{stage} cached" in run_line
    assert "SchemaGen complete" in run_line
    assert "Trainer complete" in run_line and "Evaluator complete" in run_line
    assert f"baseline: serving model {tmp_path / 'root' / 'serving' / '1'}" in second.stdout

    runs = tfx_yaml("runs", "--config", str(tmp_path / "b.yaml"), "--json", env=env)
    assert runs.returncode == 0, runs.stderr
    history = json.loads(runs.stdout)
    assert [h["status"] for h in history] == ["complete", "complete"]
    assert history[0]["started"] > history[1]["started"] and history[1]["pushed_version"] == 1
    table = tfx_yaml("runs", "--config", str(tmp_path / "b.yaml"), env=env).stdout.splitlines()
    assert len(table) == 3 and table[0].startswith("started")

    report = tfx_yaml("report", "--config", str(tmp_path / "b.yaml"), env=env)
    assert report.returncode == 0 and "report: " in report.stdout, report.stderr
    monkeypatch.setenv(mariadb.password_env, mariadb.password)
    store = Store(host=mariadb.host, port=mariadb.port, database="mlmd_shared", user=mariadb.user,
                  password_env=mariadb.password_env)
    assert next(p["version"] for p in pushed_versions(store)) == 1

    # the password is in no file, log, report, console output or compiled pipeline
    compiled = tmp_path / "compiled.yaml"
    compile_run = tfx_yaml("compile", "--config", str(tmp_path / "b.yaml"), "--output", str(compiled),
                           "--pipeline-root", "gs://bucket/pipelines", env=env)
    assert compile_run.returncode == 0, compile_run.stderr
    secret = mariadb.password.encode()
    outputs = [first, second, runs, report, compile_run]
    assert not [p for p in (tmp_path).rglob("*") if p.is_file() and secret in p.read_bytes()]
    assert all(mariadb.password not in r.stdout + r.stderr for r in outputs)
    assert "****" in (tmp_path / "root" / "run.log").read_text()  # TFX logs the connection config: redacted


def test_wrong_password_or_no_server_is_exit_2_before_anything_runs(tmp_path, mariadb):
    config = str(spec(tmp_path, mariadb.section("mlmd_refused")))
    wrong = run_cli("--config", config, env={mariadb.password_env: "not-the-password"})
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    assert (f"the MySQL server at 127.0.0.1:{mariadb.port} refused user '{mariadb.user}' for database "
            f"'mlmd_refused': check the password in ${mariadb.password_env}") in wrong.stderr
    assert "Traceback" not in wrong.stderr and "mysql_real_connect" not in wrong.stderr
    assert not (tmp_path / "root").exists()

    import os

    assert mariadb.password_env not in os.environ  # so the next run's process does not have it
    missing = run_cli("--config", config)
    assert missing.returncode == 2
    assert f"the environment variable {mariadb.password_env} is not set" in missing.stderr

    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    nowhere = str(spec(tmp_path,
                       mariadb.section("mlmd_x").replace(f"port: {mariadb.port}", f"port: {closed}"),
                       name="nowhere.yaml"))
    absent = run_cli("--config", nowhere, env=mariadb.env())
    assert absent.returncode == 2
    assert f"cannot reach the MySQL server at 127.0.0.1:{closed}" in absent.stderr
    assert not (tmp_path / "root").exists()
    check = tfx_yaml("check", nowhere, env=mariadb.env())
    assert check.returncode == 2 and "cannot reach the MySQL server" in check.stderr


def test_a_password_with_quotes_backslashes_non_ascii_and_a_newline_is_in_no_file(tmp_path, mariadb):
    """TFX logs its connection config with escapes (`\\"`, `\\\\`, `\\n`, octal for non-ASCII); none of
    the password's forms reaches any file of the root (run.log, reports, failure files), the
    console or a compiled pipeline. The root is 0700, run.log and the reports 0600."""
    import os
    import secrets
    import shutil
    import stat

    from google.protobuf import text_encoding

    password = f"p\"ss'w\\ord\nPässwört-{secrets.token_hex(4)}"
    literal = password.replace("\\", "\\\\").replace("'", "''").replace("\n", "\\n")
    client = [shutil.which("mariadb") or "mysql", "--no-defaults", f"--socket={mariadb.socket}", "-uroot",
              "--default-character-set=utf8mb4"]
    subprocess.run([*client, "-e", (f"CREATE USER 'hostile'@'127.0.0.1' IDENTIFIED BY '{literal}'; "
                                    "GRANT ALL ON *.* TO 'hostile'@'127.0.0.1';")], check=True,
                                   capture_output=True)
    section = (f"{{type: mysql, host: {mariadb.host}, port: {mariadb.port}, database: mlmd_hostile, "
               f"user: hostile, password_env: {mariadb.password_env}}}")
    env = {mariadb.password_env: password}
    run = run_cli("--config", str(spec(tmp_path, section, max_epochs=3)), env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    compiled = tfx_yaml("compile", "--config", str(spec(tmp_path, section, max_epochs=3)), "--output",
                        str(tmp_path / "compiled.yaml"), "--pipeline-root", "gs://bucket/pipelines", env=env)
    report = tfx_yaml("report", "--config", str(spec(tmp_path, section, max_epochs=3)), env=env)
    assert compiled.returncode == 0 and report.returncode == 0, compiled.stderr + report.stderr

    forms = {password, text_encoding.CEscape(password.encode(), False), text_encoding.CEscape(password, True),
             repr(password)[1:-1], json.dumps(password)[1:-1]}
    pieces = {piece for form in forms for piece in (form, *form.split("\\n"), *form.split("\n"))
              if len(piece) >= 5}
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        assert not [piece for piece in pieces if piece in text], path
    for result in (run, compiled, report):
        assert not [piece for piece in pieces if piece in result.stdout + result.stderr]
    root = tmp_path / "root"
    assert "****" in (root / "run.log").read_text()
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "run.log").stat().st_mode) == 0o600
    assert {stat.S_IMODE(p.stat().st_mode) for p in (root / "reports").iterdir()} == {0o600}
    assert os.environ.get(mariadb.password_env) is None


def test_two_pipelines_on_one_store_each_see_only_their_own(tmp_path, mariadb, monkeypatch):
    """Two differently named pipelines record into one MariaDB database: `runs`, `report`, lineage
    and `schema freeze` of each read only its own runs, pushes and schema (issue 19)."""
    env, section = mariadb.env(), mariadb.section("mlmd_two_pipelines")
    roots, configs = {}, {}
    for name, exclude in (("penguin-a", "[year]"), ("penguin-b", "[]")):
        roots[name] = tmp_path / name
        configs[name] = str(write_spec(tmp_path, f"""
name: {name}
data: {{path: {REPO / 'pipelines' / 'penguin' / 'data'}, label: species, exclude: {exclude}}}
trainer: {{max_epochs: 3}}
runtime:
  root: {roots[name]}
  metadata: {section}
""", f"{name}.yaml"))
        done = run_cli("--config", configs[name], env=env)
        assert done.returncode == 0, done.stdout + done.stderr

    monkeypatch.setenv(mariadb.password_env, mariadb.password)
    store = Store(host=mariadb.host, port=mariadb.port, database="mlmd_two_pipelines", user=mariadb.user,
                  password_env=mariadb.password_env)
    from pipelines.runs.summary import run_history

    assert len(run_history(store)) == 2  # one store, both pipelines' runs in it

    seen = {}
    for name, other in (("penguin-a", "penguin-b"), ("penguin-b", "penguin-a")):
        runs = tfx_yaml("runs", "--config", configs[name], "--json", env=env)
        assert runs.returncode == 0, runs.stderr
        seen[name] = [h["run_id"] for h in json.loads(runs.stdout)]
        assert len(seen[name]) == 1, (name, seen[name])
        assert run_history(store, name)[0]["run_id"] == seen[name][0]

        report = tfx_yaml("report", "--config", configs[name], env=env)
        assert report.returncode == 0, report.stderr
        page = (roots[name] / "reports" / (seen[name][0].replace(":", "") + ".html")).read_text()
        assert f"pipeline <b>{name}</b>" in page and other not in page
        assert str(roots[other]) not in page  # no artifact, push or lineage row of the other pipeline

        for push in pushed_versions(store, name):
            assert push["destination"].startswith(str(roots[name]))
            assert push["examples"].startswith(str(roots[name]))

        # the schema from ML Metadata (no serving model to take it from): this pipeline's own
        import shutil

        shutil.rmtree(roots[name] / "serving", ignore_errors=True)
        frozen = tmp_path / f"{name}.schema.pbtxt"
        freeze = tfx_yaml("schema", "freeze", "--config", configs[name], "--output", str(frozen), env=env)
        assert freeze.returncode == 0, freeze.stderr
        assert f"(from {roots[name] / 'pipeline' / 'SchemaGen'}" in freeze.stdout, freeze.stdout
        assert frozen.read_text().startswith(("feature", "#",
                                              "string_domain")) or "feature {" in frozen.read_text()

    assert set(seen["penguin-a"]).isdisjoint(seen["penguin-b"])
    # a run of the other pipeline is not this one's: `report --run` says there is no such run of it
    wrong = tfx_yaml("report", "--config", configs["penguin-a"], "--run", seen["penguin-b"][0], env=env)
    assert wrong.returncode == 1
    assert f"no record of run {seen['penguin-b'][0]!r} of pipeline 'penguin-a'" in wrong.stderr


def test_a_connection_over_tls_with_a_client_certificate(tmp_path, mariadb, monkeypatch):
    """runtime.metadata.ssl reaches ML Metadata's connection: a user that the server admits only
    over TLS with a client certificate signed by the test authority (REQUIRE X509) connects with
    cert/key (`check`, `runs` and a write through ML Metadata), and is refused without them. The
    authority and certificates are made with openssl by the fixture.

    verify_server_cert is on by default and reaches the connection config; the connections here
    turn it off: ML Metadata 1.16's bundled client (MariaDB Connector/C on BoringSSL) refused this
    server's certificate with verification on in every form tried (IP and DNS names, capath), while
    the mariadb command-line client verified the same certificate against the same authority."""
    import shutil

    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from pipelines.spec import load_spec

    client = [shutil.which("mariadb") or "mysql", "--no-defaults", f"--socket={mariadb.socket}", "-uroot"]
    subprocess.run([*client, "-e", (f"CREATE USER 'mlmd_tls'@'127.0.0.1' IDENTIFIED BY '{mariadb.password}' "
                                    "REQUIRE X509; GRANT ALL ON *.* TO 'mlmd_tls'@'127.0.0.1';")],
                   check=True, capture_output=True)
    tls = mariadb.tls

    def config(ssl: str, name: str) -> Path:
        section = (f"{{type: mysql, host: {mariadb.host}, port: {mariadb.port}, database: mlmd_tls, "
                   f"user: mlmd_tls, password_env: {mariadb.password_env}, ssl: {ssl}}}")
        return spec(tmp_path, section, name=name)

    good = config(f"{{ca: {tls / 'ca.pem'}, cert: {tls / 'client.pem'}, key: {tls / 'client.key'}, "
                  "verify_server_cert: false}", "tls.yaml")
    checked = tfx_yaml("check", str(good), env=mariadb.env())
    assert checked.returncode == 0, checked.stderr
    runs = tfx_yaml("runs", "--config", str(good), env=mariadb.env())
    assert runs.returncode == 0, runs.stderr
    assert (f"no runs of pipeline 'penguin-shared' recorded in mysql://mlmd_tls@127.0.0.1:{mariadb.port}"
            "/mlmd_tls (TLS)") in runs.stdout

    # the store works over that connection: write and read back
    monkeypatch.setenv(mariadb.password_env, mariadb.password)
    store = Store.of(load_spec(str(good)).runtime.metadata, str(tmp_path / "root"))
    options = store.config().mysql.ssl_options
    assert (options.ca, options.cert, options.key, options.verify_server_cert) == (
        str(tls / "ca.pem"), str(tls / "client.pem"), str(tls / "client.key"), False)
    opened = metadata_store.MetadataStore(store.config())
    opened.put_context_type(metadata_store_pb2.ContextType(name="tls_probe"))
    assert opened.get_context_type("tls_probe").name == "tls_probe"

    # verification is the default, and reaches the connection config
    verified = config(f"{{ca: {tls / 'ca.pem'}, cert: {tls / 'client.pem'}, key: {tls / 'client.key'}}}",
                      "v.yaml")
    assert Store.of(load_spec(str(verified)).runtime.metadata,
                    "r").config().mysql.ssl_options.verify_server_cert

    without_cert = config(f"{{ca: {tls / 'ca.pem'}, verify_server_cert: false}}", "no-cert.yaml")
    refused = tfx_yaml("check", str(without_cert), env=mariadb.env())
    assert refused.returncode == 2 and "refused user 'mlmd_tls'" in refused.stderr, refused.stderr
    assert "with TLS (runtime.metadata.ssl)" in refused.stderr
    no_tls = spec(tmp_path,
                  f"{{type: mysql, host: {mariadb.host}, port: {mariadb.port}, database: mlmd_tls, user: "
                            f"mlmd_tls, password_env: {mariadb.password_env}}}", name="no-tls.yaml")
    plain = tfx_yaml("check", str(no_tls), env=mariadb.env())
    assert plain.returncode == 2 and "if the server requires TLS, set runtime.metadata.ssl" in plain.stderr

    missing = config(f"{{ca: {tmp_path / 'nope.pem'}}}", "missing.yaml")
    absent = tfx_yaml("check", str(missing), env=mariadb.env())
    assert absent.returncode == 2
    assert f"runtime.metadata.ssl.ca: {tmp_path / 'nope.pem'} is not a file" in absent.stderr, absent.stderr
