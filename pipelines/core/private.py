"""Secrets stay out of what a run writes, and what it writes is for its owner only.

The ML Metadata password reaches TFX's connection config, which TFX logs
(`Using connection config: ...`, a protobuf in text format). There the password is escaped: `"`
as `\\"`, `\\` as `\\\\`, a newline as `\\n`, every non-ASCII byte as an octal escape
(`Pässwort` is `P\\303\\244sswort`), and a traceback or a `%r` escapes it once more. So redaction
works two ways, both applied to every line (message, traceback and stack) of run.log:

- by value: the password itself, in every escaped form above (raw, C-escaped as protobuf writes
  it, with UTF-8 kept or as octal, Python's repr of text and of bytes, JSON), once and twice over;
- then by field: the value of any `password`/`passwd` field (text format, JSON, `key=value`) is
  replaced, whatever it is (a backslash run escapes the next character, at any depth).

Folders a run creates are 0700 and its logs and reports 0600: they may hold data paths,
feature statistics and (if everything above failed) secrets.
"""

from __future__ import annotations

import json
import logging
import os
import re

MASK = "****"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

_FIELD = re.compile(
    r"""(?P<key>["']?\b(?:password|passwd)\b["']?\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\\n]|\\+.)*"?|'(?:[^'\\\n]|\\+.)*'?|[^\s,;}&)]+)""",
    re.IGNORECASE)


def _c_escape(text: str, as_utf8: bool) -> str:
    from google.protobuf import text_encoding

    return text_encoding.CEscape(text if as_utf8 else text.encode("utf-8"), as_utf8)


def _inner_repr(text: str) -> str:
    return repr(text)[1:-1]


def _inner_repr_double_quoted(text: str) -> str:
    """repr() of a text holding a single quote uses double quotes: `"` is then escaped too."""
    return repr("'" + text)[2:-1] if "'" not in text else _inner_repr(text)


def escaped_forms(secret: str) -> list[str]:
    """The password as it may appear in logged text, longest first (so that a form is replaced
    before a shorter one inside it)."""
    base = {secret, _c_escape(secret, False), _c_escape(secret, True)}
    forms = set(base)
    for form in base:
        forms |= {_inner_repr(form), _inner_repr_double_quoted(form), json.dumps(form)[1:-1],
                  json.dumps(form, ensure_ascii=False)[1:-1], repr(form.encode("utf-8"))[2:-1]}
    for form in list(forms):  # escaped twice: a repr of a message that holds an escaped form
        forms |= {_inner_repr(form), json.dumps(form)[1:-1]}
    return sorted((f for f in forms if f), key=len, reverse=True)


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """`text` without the values of password fields and without any escaped form of `secrets`."""
    for secret in secrets:  # first: a field's value is then one piece, whatever its escapes were
        if secret:
            for form in escaped_forms(secret):
                text = text.replace(form, MASK)
    return _FIELD.sub(lambda m: m.group("key") + _masked(m.group("value")), text)


def _masked(value: str) -> str:
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{quote}{MASK}{quote}"


class Redact(logging.Filter):
    """A log filter that redacts each record (see `redact`): its message, its traceback and its
    stack, before any handler formats them."""

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def private_dir(path: str) -> None:
    """Create a local folder (and its parents) for this user only; an existing one is left as
    it is (it may be shared on purpose)."""
    if not os.path.isdir(path):  # local-only: the run's root is local
        os.makedirs(path, mode=PRIVATE_DIR, exist_ok=True)  # local-only
        os.chmod(path, PRIVATE_DIR)  # local-only: whatever the umask


def open_private(path: str, mode: str = "w"):
    """Open a local file for writing ("w" or "a"), created 0600 (an existing one becomes 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE)  # local-only: run.log and reports live in the local root
    os.fchmod(fd, PRIVATE_FILE)  # local-only: the same file descriptor
    return os.fdopen(fd, mode, encoding="utf-8")  # local-only: the same file descriptor


class PrivateFileHandler(logging.FileHandler):
    """logging's FileHandler, with the file created (or made) 0600."""

    def _open(self):
        return open_private(self.baseFilename, self.mode)
