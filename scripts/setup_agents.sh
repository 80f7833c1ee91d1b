# The agent CLIs the gateway's live tests drive: Claude Code (Anthropic Messages API) and
# Codex (OpenAI Responses API), pinned, installed with npm into the user cache, outside
# any clone, so a second clone or CI on the same machine reuses them.
#
# Source it (scripts/lib.sh does), then:
#   mp_setup_agents      install both pinned CLIs if missing (quiet; idempotent)
#   mp_claude_bin        print the path of `claude` (a native binary: no Node at run time)
#   mp_codex_bin         print the path of `codex` (a Node launcher for the native binary)
#
# Needs only npm and the npm registry. Upgrading a pin is a deliberate change: re-record
# tests/fixtures/anthropic and tests/fixtures/responses (see their SOURCES.md) first.
# Findings behind this file: docs/records/agent-clients.md.

MP_CLAUDE_CODE_VERSION="${MP_CLAUDE_CODE_VERSION:-2.1.328}"
MP_CODEX_VERSION="${MP_CODEX_VERSION:-0.169.0}"

if ! declare -F mp_log >/dev/null; then
  mp_log() { printf '\033[2m[modelport]\033[0m %s\n' "$*" >&2; }
fi

# ~/.cache/modelport/agents, or under MODELPORT_CACHE_DIR / XDG_CACHE_HOME when set.
mp_agents_dir() {
  echo "${MODELPORT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelport}/agents"
}

# The folder one pinned package lives in: agents/<package>@<version>.
mp_agent_prefix() {
  echo "$(mp_agents_dir)/$1@$2"
}

mp_claude_bin() {
  echo "$(mp_agent_prefix @anthropic-ai/claude-code "$MP_CLAUDE_CODE_VERSION")/node_modules/.bin/claude"
}

mp_codex_bin() {
  echo "$(mp_agent_prefix @openai/codex "$MP_CODEX_VERSION")/node_modules/.bin/codex"
}

# Install PACKAGE@VERSION into its folder unless a checked install is already there.
# The install goes to a temporary folder first and is renamed into place only once the
# binary answers `--version` with the pinned version, so an interrupted or concurrent
# install never leaves a half-installed folder behind.
_mp_install_agent() {
  local package="$1" version="$2" bin_name="$3"
  local prefix stamp partial log bin got
  prefix="$(mp_agent_prefix "$package" "$version")"
  stamp="$prefix/.modelport-installed"
  if [ -f "$stamp" ] && [ -x "$prefix/node_modules/.bin/$bin_name" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    mp_log "npm is needed to install $package@$version (apt-get install npm, or Node.js from nodejs.org)"
    return 1
  fi
  mkdir -p "$(dirname "$prefix")"
  partial="$prefix.partial.$$"
  log="$prefix.install.log"
  rm -rf "$partial"
  mp_log "installing $package@$version (npm, about 400 MB) into $prefix"
  # engine-strict off: Claude Code asks for Node >= 22 in package.json, but what runs is
  # its native binary; npm only warns about it unless engine-strict is set somewhere.
  if ! npm install --prefix "$partial" --no-audit --no-fund --no-save --engine-strict=false \
    --loglevel=error "$package@$version" >"$log" 2>&1; then
    tail -20 "$log" >&2
    mp_log "installing $package@$version failed (log: $log)"
    rm -rf "$partial"
    return 1
  fi
  bin="$partial/node_modules/.bin/$bin_name"
  # Claude Code's postinstall (install.cjs) copies the native binary over a shell stub
  # that only prints an error; it does not run with --ignore-scripts (set in some npm
  # configs), so run it here when the stub is still in place.
  if [ "$bin_name" = claude ] && ! "$bin" --version >/dev/null 2>&1; then
    (cd "$partial/node_modules/$package" && node install.cjs) >>"$log" 2>&1 || true
  fi
  got="$("$bin" --version 2>>"$log" || true)"
  case "$got" in
    *"$version"*) ;;
    *)
      mp_log "$package@$version did not run after install (\`$bin_name --version\` said: ${got:-nothing}; log: $log)"
      rm -rf "$partial"
      return 1
      ;;
  esac
  echo "$version" >"$partial/.modelport-installed"
  if [ -f "$stamp" ]; then
    rm -rf "$partial" # another process finished the same install meanwhile
  else
    rm -rf "$prefix"
    mv "$partial" "$prefix"
  fi
  rm -f "$log"
}

mp_setup_agents() {
  _mp_install_agent @anthropic-ai/claude-code "$MP_CLAUDE_CODE_VERSION" claude || return 1
  _mp_install_agent @openai/codex "$MP_CODEX_VERSION" codex || return 1
}
