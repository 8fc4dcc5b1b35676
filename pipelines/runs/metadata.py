"""Which ML Metadata store a local run uses, and how to open it: a SQLite file under the root
(the default) or a MySQL-compatible server named in `runtime.metadata`.

Light on purpose (ML Metadata's client only, no TFX): the unchanged re-run, `tfx-yaml runs` and
the report read the store through here. The password comes from the environment variable the
spec names and is only ever put into the connection config, never printed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2


class MetadataError(Exception):
    """The store cannot be used: said in the user's terms (what, where, the fix)."""


@dataclasses.dataclass(frozen=True)
class Store:
    """One ML Metadata store: `sqlite` is a file path; or a MySQL server's settings."""

    sqlite: str | None = None
    host: str | None = None
    port: int = 3306
    database: str | None = None
    user: str | None = None
    password_env: str | None = None
    ssl_ca: str | None = None  # TLS (runtime.metadata.ssl): PEM files, and whether to verify the server
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_verify: bool = False
    tls: bool = False

    @classmethod
    def of(cls, section, root: str) -> Store:
        """From the spec's `runtime.metadata` section (a pipelines.spec MetadataSection)."""
        if section.type == "sqlite":
            return cls(sqlite=os.path.join(root, "metadata.sqlite"))
        ssl = section.ssl
        tls = {} if ssl is None else {
            "tls": True, "ssl_verify": ssl.verify_server_cert,
            **{f"ssl_{k}": os.path.abspath(getattr(ssl, k)) for k in ("ca", "cert", "key")
               if getattr(ssl, k)}}
        return cls(host=section.host, port=section.port, database=section.database, user=section.user,
                   password_env=section.password_env, **tls)

    def describe(self) -> str:
        """Where the store is, for messages (never the password)."""
        if self.sqlite:
            return self.sqlite
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}" + (" (TLS)" if self.tls else "")

    def exists(self) -> bool:
        return self.sqlite is None or os.path.exists(self.sqlite)  # local-only: a SQLite file

    def config(self, readonly: bool = False) -> metadata_store_pb2.ConnectionConfig:
        config = metadata_store_pb2.ConnectionConfig()
        if self.sqlite:
            config.sqlite.filename_uri = self.sqlite
            modes = metadata_store_pb2.SqliteMetadataSourceConfig
            config.sqlite.connection_mode = modes.READONLY if readonly else modes.READWRITE_OPENCREATE
            return config
        config.mysql.host, config.mysql.port = self.host, self.port
        config.mysql.database, config.mysql.user = self.database, self.user
        if self.password_env:
            if self.password_env not in os.environ:
                raise MetadataError("runtime.metadata.password_env: the environment variable "
                                    f"{self.password_env} is not set; export it with the password of user "
                                    f"{self.user!r} on {self.host}:{self.port}")
            config.mysql.password = os.environ[self.password_env]
        if self.tls:
            for key, path in (("ca", self.ssl_ca), ("cert", self.ssl_cert), ("key", self.ssl_key)):
                if path is None:
                    continue
                if not os.path.isfile(path):  # local-only: the client reads its PEM files itself
                    raise MetadataError(f"runtime.metadata.ssl.{key}: {path} is not a file; give the "
                                        "path of the "
                                        + {"ca": "certificate authority's certificate",
                                           "cert": "client certificate",
                                           "key": "client certificate's private key"}[key] + " (PEM)")
                setattr(config.mysql.ssl_options, key, path)
            config.mysql.ssl_options.verify_server_cert = self.ssl_verify
        return config

    def secrets(self) -> list[str]:
        """What must never be written anywhere: the password, when there is one."""
        password = os.environ.get(self.password_env) if self.password_env else None
        return [password] if password else []

    def check(self) -> None:
        """Connect once, before a run starts: an unreachable server or refused login is a
        MetadataError naming the server, the user and the likely fix; a SQLite store that is
        damaged or read-only (check_sqlite) is one too."""
        if self.sqlite:
            check_sqlite(self.sqlite, write=True)
            return
        config = self.config()
        try:
            socket.create_connection((self.host, self.port), timeout=5).close()
        except OSError as error:
            raise MetadataError(f"runtime.metadata: cannot reach the MySQL server at {self.host}:{self.port} "
                                f"({error.strerror or error}); start it or fix host/port") from None
        try:
            with _quiet_stderr():  # ML Metadata's C++ log adds a MySQL 8 hint that misleads here
                metadata_store.MetadataStore(config)
        except Exception:  # noqa: BLE001 (ML Metadata says only "mysql_real_connect failed")
            raise MetadataError(f"runtime.metadata: the MySQL server at {self.host}:{self.port} refused user "
                                f"{self.user!r} for database {self.database!r}: check the password in "
                                f"${self.password_env or '(no password_env)'} and that the user may create "
                                "and use that database"
                                + ("; with TLS (runtime.metadata.ssl): that ca signed the server's "
                                   "certificate and names the host, and that cert and key are the client's "
                                   "the server expects"
                                   if self.tls
                                   else "; if the server requires TLS, set runtime.metadata.ssl")) from None

    def connect(self) -> metadata_store.MetadataStore | None:
        """The store for reading, or None when a SQLite store has not been created yet."""
        if not self.exists():
            return None
        if self.sqlite:
            check_sqlite(self.sqlite, write=False)
        try:
            return metadata_store.MetadataStore(self.config(readonly=True))
        except Exception as error:  # noqa: BLE001 (ML Metadata raises its own errors and RuntimeError)
            raise MetadataError(_unreadable(self.describe(), error)) from None


@contextlib.contextmanager
def _quiet_stderr():
    """File descriptor 2 to /dev/null for the duration (C++ libraries write there directly)."""
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)  # local-only: /dev/null
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


SQLITE_HEADER = b"SQLite format 3\x00"


def check_sqlite(path: str, write: bool) -> None:
    """Raise MetadataError (one line: the file, what is wrong, what to do) when the SQLite store
    at `path` exists but cannot be used: empty (0 bytes: never silently started afresh, which
    would lose the history), not a SQLite file (a garbled header), damaged pages (SQLite's own
    `PRAGMA quick_check`, a few milliseconds for a store of a few MB), or, with `write`, not
    writable (a read-only file, folder or mount). A store that does not exist yet is fine: the
    first run creates it. Reads only (SQLite's read-only mode), unless a journal of an interrupted
    write is there, which SQLite rolls back as any writer's open would."""
    import sqlite3

    if not os.path.lexists(path):  # local-only: the SQLite file of a local root
        return
    aside = f"mv {path} {path}.damaged"
    restore = (f"restore it from a backup, or move it aside ({aside}) to start a new, empty run history "
               "(the serving directory and its versions are kept)")
    if not os.path.isfile(path):  # local-only
        raise MetadataError(f"the ML Metadata store {path} is not a regular file; remove it or give another "
                            "--root")
    if os.path.getsize(path) == 0:  # local-only
        raise MetadataError(f"the ML Metadata store {path} is empty (0 bytes: a crash or a full disk while "
                            f"it was written); it is not started afresh silently: {restore}")
    try:
        with open(path, "rb") as f:  # local-only: the header of the SQLite file
            header = f.read(len(SQLITE_HEADER))
    except OSError as error:
        raise MetadataError(f"the ML Metadata store {path} cannot be read ({error.strerror or error}); fix "
                            "its permissions") from None
    if header != SQLITE_HEADER:
        raise MetadataError(f"the ML Metadata store {path} is not a SQLite database (its header is garbled); "
                            f"{restore}")
    # A journal left by a write that failed (a full disk, a kill) is rolled back by SQLite when the
    # store is opened for writing, as every open by ML Metadata does: not damage.
    journal = os.path.exists(path + "-journal") and os.access(path, os.W_OK)  # local-only
    try:
        connection = sqlite3.connect(f"file:{path}?mode={'rw' if journal else 'ro'}", uri=True, timeout=30)
        try:
            found = [row[0] for row in connection.execute("PRAGMA quick_check(3)").fetchall()]
        finally:
            connection.close()
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            found = ["ok"]  # a run of this root is writing it: not damage (the run's lock orders them)
        else:
            found = [str(error)]
    except sqlite3.DatabaseError as error:
        found = [str(error)]
    if found != ["ok"]:
        raise MetadataError(f"the ML Metadata store {path} is damaged (SQLite: {'; '.join(found)[:200]}); "
                            f"{restore}")
    folder = os.path.dirname(path)
    if write and not (os.access(path, os.W_OK) and os.access(folder, os.W_OK)):
        raise MetadataError(f"the ML Metadata store {path} is read-only (the file, its folder {folder} or "
                            "its file system): a run records every stage in it; make it writable, or give "
                            "another --root")


def _unreadable(where: str, error: Exception) -> str:
    """A store that passed check_sqlite but that ML Metadata cannot open or read."""
    text = " ".join(str(error).split())[:200]
    return (f"the ML Metadata store {where} cannot be read ({type(error).__name__}: {text}); if it is "
            "damaged, restore it from a backup or move it aside to start a new run history")


def as_store(store: Store | str) -> Store:
    """A Store, also from the path of a SQLite file (what tests and notebooks pass)."""
    return store if isinstance(store, Store) else Store(sqlite=str(store))
