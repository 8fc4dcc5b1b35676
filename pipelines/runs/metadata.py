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
        MetadataError naming the server, the user and the likely fix."""
        if self.sqlite:
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
        return metadata_store.MetadataStore(self.config(readonly=True))


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


def as_store(store: Store | str) -> Store:
    """A Store, also from the path of a SQLite file (what tests and notebooks pass)."""
    return store if isinstance(store, Store) else Store(sqlite=str(store))
