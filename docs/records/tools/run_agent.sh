#!/usr/bin/env bash
# Run one pinned agent CLI once, in print/exec mode, against a base URL, in a fresh HOME,
# the way the recordings in tests/fixtures/anthropic and tests/fixtures/responses were made.
# A research tool, not a test.
#
#   docs/records/tools/run_agent.sh claude OUT URL [claude args...]
#   docs/records/tools/run_agent.sh codex  OUT URL [codex exec args...]
#
# URL is the server's base URL without /v1 (http://127.0.0.1:PORT). OUT gets home/, work/
# (the empty working directory), stdout.txt, stderr.txt and rc.txt ("rc=N secs=S").
# Environment:
#   PROMPT        the prompt (default "Say hi")
#   TIMEOUT       seconds before the CLI is killed (default 900)
#   EXTRA_ENV     more VAR=value words for the CLI's environment
#                 (e.g. "CLAUDE_CODE_MAX_OUTPUT_TOKENS=64")
#   CODEX_EXTRA   more top-level TOML lines for Codex's config.toml
#   STRACE=1      also write OUT/strace.txt (connect/sendto/sendmmsg calls), to see DNS
#                 lookups and connections to other hosts
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../../scripts/setup_agents.sh
. "$here/../../../scripts/setup_agents.sh"

which_cli="$1" out="$2" url="$3"
shift 3
rm -rf "$out"
mkdir -p "$out/home" "$out/work"
out="$(cd "$out" && pwd)"
prefix=()
if [ "${STRACE:-0}" = 1 ]; then
  prefix=(strace -f -qq -e trace=connect,sendto,sendmmsg -s 120 -e signal=none -o "$out/strace.txt")
fi

case "$which_cli" in
  claude)
    bin="$(mp_claude_bin)"
    # shellcheck disable=SC2086
    env_cmd=(env -i PATH=/usr/bin:/bin HOME="$out/home" TERM=dumb
      ANTHROPIC_BASE_URL="$url" ANTHROPIC_API_KEY=test-key
      ANTHROPIC_MODEL=smollm2 ANTHROPIC_DEFAULT_HAIKU_MODEL=smollm2
      ANTHROPIC_DEFAULT_SONNET_MODEL=smollm2 ANTHROPIC_DEFAULT_OPUS_MODEL=smollm2
      ANTHROPIC_DEFAULT_FABLE_MODEL=smollm2
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 ${EXTRA_ENV:-})
    cli=("$bin" -p "${PROMPT:-Say hi}" --output-format json "$@")
    ;;
  codex)
    bin="$(mp_codex_bin)"
    mkdir -p "$out/home/.codex"
    # The same config.toml the agent tests use (one copy), filled in with sed.
    extra="${CODEX_EXTRA:-}"
    sed -e "s|@MODEL@|smollm2|" -e "s|@BASE_URL@|$url/v1|" -e "s|@EXTRA@|${extra//|/\\|}|" \
      "$here/../../../tests/live/agents/codex-config.toml" >"$out/home/.codex/config.toml"
    # shellcheck disable=SC2086
    env_cmd=(env -i PATH="/usr/bin:/bin:$(dirname "$(command -v node)")" HOME="$out/home"
      CODEX_HOME="$out/home/.codex" TERM=dumb MODELPORT_API_KEY=test-key ${EXTRA_ENV:-})
    cli=("$bin" exec --skip-git-repo-check --strict-config "$@" "${PROMPT:-Say hi}")
    ;;
  *)
    echo "usage: $0 claude|codex OUT URL [args...]" >&2
    exit 2
    ;;
esac

cd "$out/work"
started=$(date +%s.%N)
rc=0
"${env_cmd[@]}" "${prefix[@]}" timeout "${TIMEOUT:-900}" "${cli[@]}" \
  >"$out/stdout.txt" 2>"$out/stderr.txt" </dev/null || rc=$?
echo "rc=$rc secs=$(python3 -c "import time; print(round(time.time() - $started, 1))")" | tee "$out/rc.txt"
