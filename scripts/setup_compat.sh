# The client libraries of the compatibility suite (tests/compat): each client in its own
# virtual environment (their pins on openai differ), installed from PyPI with pip into the
# user cache, outside any clone, so a second clone or CI on the same machine reuses them.
#
# Source it (scripts/lib.sh does), then:
#   mp_setup_compat          install every client's venv if missing (idempotent)
#   mp_compat_python CLIENT  print the path of CLIENT's venv python (installed or not)
#
# A client's requirement list is tests/compat/requirements/CLIENT.txt; its venv is
# compat/CLIENT-VERSION-HASH, where VERSION is the pin on the list's first line and HASH
# covers the whole list and the Python version, so changing a pin makes a new venv and
# never reuses a stale one. Needs only python3 -m venv, pip and PyPI.

MP_COMPAT_CLIENTS="openai ollama langchain-openai langchain-ollama litellm pydantic-ai instructor llm smolagents openai-agents anthropic"
_MP_COMPAT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! declare -F mp_log >/dev/null; then
  mp_log() { printf '\033[2m[modelport]\033[0m %s\n' "$*" >&2; }
fi

# ~/.cache/modelport/compat, or under MODELPORT_CACHE_DIR / XDG_CACHE_HOME when set.
mp_compat_dir() {
  echo "${MODELPORT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelport}/compat"
}

mp_compat_requirements() {
  echo "$_MP_COMPAT_ROOT/tests/compat/requirements/$1.txt"
}

# The venv folder of one client: compat/<client>-<version>-<hash of list and Python>.
mp_compat_venv() {
  local list version key python="${MP_PYTHON:-python3}"
  list="$(mp_compat_requirements "$1")"
  [ -f "$list" ] || { mp_log "no requirement list for client $1: $list"; return 1; }
  version="$(head -1 "$list" | sed 's/.*==//')"
  key="$({ cat "$list"; "$python" -c 'import sys; print(sys.version_info[:2])'; } | sha256sum | cut -c1-12)"
  echo "$(mp_compat_dir)/$1-$version-$key"
}

mp_compat_python() {
  local venv
  venv="$(mp_compat_venv "$1")" || return 1
  echo "$venv/bin/python"
}

# Install one client's venv unless a checked one is there. The venv is built in a
# temporary folder and renamed into place only once pip has finished and `pip check`
# passes, so an interrupted or concurrent install never leaves a half-built venv behind.
_mp_install_compat() {
  local client="$1" venv list partial log started python="${MP_PYTHON:-python3}"
  venv="$(mp_compat_venv "$client")" || return 1
  [ -f "$venv/.modelport-installed" ] && [ -x "$venv/bin/python" ] && return 0
  list="$(mp_compat_requirements "$client")"
  mkdir -p "$(mp_compat_dir)"
  partial="$venv.partial.$BASHPID"
  log="$venv.install.log"
  rm -rf "$partial"
  started=$SECONDS
  mp_log "installing compat client $client ($(tr '\n' ' ' <"$list")) into $venv"
  # No pip inside the venv (ensurepip costs seconds per venv): this Python's pip installs
  # into it with --python.
  if ! { "$python" -m venv --without-pip "$partial" \
      && "$python" -m pip --python "$partial/bin/python" install -q --disable-pip-version-check \
        -r "$list" \
      && "$python" -m pip --python "$partial/bin/python" check --disable-pip-version-check; } \
      >"$log" 2>&1; then
    tail -20 "$log" >&2
    mp_log "installing compat client $client failed (log: $log)"
    rm -rf "$partial"
    return 1
  fi
  if [ -f "$venv/.modelport-installed" ]; then
    rm -rf "$partial" # another process finished the same install meanwhile
  else
    rm -rf "$venv"
    mv "$partial" "$venv"
    # The venv was made at the partial path: point its scripts and pyvenv.cfg home there.
    { grep -rlF "$partial" "$venv/bin" "$venv/pyvenv.cfg" 2>/dev/null || true; } \
      | xargs -r sed -i "s|$partial|$venv|g"
    echo "$client" >"$venv/.modelport-installed"
  fi
  rm -f "$log"
  mp_log "compat client $client installed in $((SECONDS - started)) s"
}

# All clients at once: pip mostly waits on downloads, so parallel installs take about as
# long as the largest one.
mp_setup_compat() {
  local client pid failed=0 pids=()
  for client in $MP_COMPAT_CLIENTS; do
    _mp_install_compat "$client" &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
  done
  return "$failed"
}
