# Sourced by scripts/serve and scripts/test: a virtualenv in .venv with softswitch installed.
# Works on a fresh Debian machine with Python >= 3.11 (installs python3-venv if missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "softswitch needs Python >= 3.11 (found: $("$PY" --version 2>&1))" >&2
  exit 1
fi
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv
  fi
  "$PY" -m venv "$ROOT/.venv"
fi
VENV="$ROOT/.venv/bin"
"$VENV/python" -m pip install -q --upgrade pip >/dev/null
