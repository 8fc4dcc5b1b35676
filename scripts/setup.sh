#!/usr/bin/env bash
# Prepare .venv with Python 3.10 and the pinned TFX 1.16 stack; install this project (editable).
# Idempotent: a second run with nothing changed only checks and returns.
#   scripts/setup.sh          what running pipelines needs (no root, no system packages)
#   scripts/setup.sh --test   also the Debian packages the tests use (chromium, mariadb-server)
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  local root candidate
  root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
  for candidate in "$root/versions/3.10.13/bin/python3.10" "$root"/versions/3.10.*/bin/python3.10; do
    [ -x "$candidate" ] && { echo "$candidate"; return; }
  done
  if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys' >/dev/null 2>&1; then
    command -v python3.10; return
  fi
  return 1
}

# The tests' system packages (Debian): Chromium for the report's browser tests, MariaDB for ML
# Metadata on a server. Only with --test (`make test`, .ci/run): running a pipeline needs neither,
# nor root. Installed when missing and we may (root with apt-get); else said.
system_packages() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  { command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; } || missing+=(mariadb-server)
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (Debian packages the tests use)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: the tests need ${missing[*]} (Debian: sudo apt-get install ${missing[*]})" >&2
  fi
}
if [ "${1:-}" = "--test" ]; then system_packages; fi

stamp=.venv/.installed
wanted="$(cat scripts/constraints.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  python=$(find_python) || { echo "error: python3.10 not found (TFX 1.16 needs Python 3.9-3.10); install it, e.g. 'pyenv install 3.10.13'" >&2; exit 1; }
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade "pip<26"
.venv/bin/python -m pip install --quiet -c scripts/constraints.txt -e ".[dev]"
echo "$wanted" > "$stamp"
echo "set-up done: .venv ($(.venv/bin/python --version))"
