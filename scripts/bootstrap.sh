# Sourced by scripts/serve and scripts/test: make .venv match uv.lock, using Python 3.12+.
# Needs only a Python 3.12 or newer somewhere on the machine (PATH or pyenv); uv itself is
# installed into .cache/uv from PyPI if it is not already on PATH.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV_VERSION="0.13.8"
export UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy

find_python() {
  local candidate
  for candidate in python3.13 python3.12 \
      "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 \
      "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 \
      python3; do
    # The interpreter itself, not a pyenv shim: uv recreates an environment whose Python
    # is not the path it is given.
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      "$candidate" -c 'import sys; print(sys.executable)'; return 0
    fi
  done
  echo "Portside needs Python 3.12 or newer; none was found on PATH or under pyenv." >&2
  return 1
}

PYTHON="$(find_python)"
if command -v uv >/dev/null 2>&1; then
  UV="$(command -v uv)"
else
  UV="$ROOT/.cache/uv/bin/uv"
  if [ ! -x "$UV" ]; then
    "$PYTHON" -m venv "$ROOT/.cache/uv"
    "$ROOT/.cache/uv/bin/pip" install --quiet "uv==$UV_VERSION"
  fi
fi
# Bytecode, compiled once: every `portside` process the tests start (and every run on a
# machine that sets PYTHONDONTWRITEBYTECODE) would otherwise compile each module again,
# which made a CLI call take 7 s instead of 2.
"$UV" sync --frozen --quiet --compile-bytecode --python "$PYTHON"
"$ROOT/.venv/bin/python" -m compileall -q -j 0 "$ROOT/src" >/dev/null
export PATH="$ROOT/.venv/bin:$PATH"
