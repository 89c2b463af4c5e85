#!/usr/bin/env bash
# LocalStack without Docker (see docs/operations.md and the pins below).
#
#   localstack/host.sh install   # venv + kinesis-mock into the cache, skipped when present
#   localstack/host.sh start     # start if not answering; waits for health; prints nothing else
#   localstack/host.sh stop      # stops the LocalStack this script started (by pid), nothing else
#   localstack/host.sh bootstrap # create queues, DLQs and streams from localstack/resources.json
#   localstack/host.sh tail-stream NAME [N]  # print the last N records of a Kinesis stream
#
# Everything lives under $NUDGE_CACHE (default ~/.cache/nudge), outside the clone, so a
# fresh clone reuses it. Pins: LocalStack 4.14+ needs Python 3.12; 4.11-4.13's Kinesis
# provider fails to import on 3.11; the upper bounds keep the versions 4.8.1 shipped with.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NUDGE_CACHE="${NUDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nudge}"
LS_VERSION="4.8.1"
VENV="$NUDGE_CACHE/localstack-$LS_VERSION/venv"
# LOCALSTACK_HOME, LOCALSTACK_PORT, LOCALSTACK_PIDFILE and LOCALSTACK_SERVICES let a
# test run a private instance beside the shared one (tests/e2e/tests/sqs_restart.rs).
INSTALL_HOME="$NUDGE_CACHE/localstack-$LS_VERSION/home"
LS_HOME="${LOCALSTACK_HOME:-$INSTALL_HOME}"
LS_SERVICES="${LOCALSTACK_SERVICES:-sqs,kinesis,ses,s3}"
LS_PORT="${LOCALSTACK_PORT:-4566}"
LS_URL="http://127.0.0.1:$LS_PORT"
PIDFILE="${LOCALSTACK_PIDFILE:-$NUDGE_CACHE/run/localstack.pid}"

log() { echo "[localstack] $*" >&2; }

healthy() {
  curl -fsS --max-time 2 "$LS_URL/_localstack/health" 2>/dev/null | grep -q '"sqs": "\(available\|running\)"'
}

install() {
  if [ -f "$VENV/.complete" ]; then return 0; fi
  log "installing LocalStack $LS_VERSION into $VENV (about 2 minutes, once per machine)"
  rm -rf "$VENV"
  mkdir -p "$INSTALL_HOME"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "localstack-core[runtime]==$LS_VERSION" \
    'cryptography<44' 'pyopenssl<24.3' 'joserfc<1.1' 'cbor2<5.7' service_identity
  # Kinesis is emulated by an npm package: fetch it now rather than on the first CreateStream.
  FILESYSTEM_ROOT="$INSTALL_HOME" npm_config_cache="$INSTALL_HOME/npm" \
    "$VENV/bin/python" -m localstack.cli.lpm install kinesis-mock >/dev/null
  touch "$VENV/.complete"
}

start() {
  if healthy; then log "already running at $LS_URL"; return 0; fi
  install
  mkdir -p "$(dirname "$PIDFILE")" "$LS_HOME"
  GATEWAY_LISTEN="127.0.0.1:$LS_PORT" SERVICES="$LS_SERVICES" \
  KINESIS_MOCK_PROVIDER_ENGINE=node KINESIS_PERSISTENCE=0 KINESIS_LATENCY=0 \
  OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$LS_HOME" npm_config_cache="$LS_HOME/npm" \
    nohup "$VENV/bin/python" -m localstack.runtime.main >"$LS_HOME/localstack.log" 2>&1 &
  echo $! >"$PIDFILE"
  local deadline=$((SECONDS + 60))
  until healthy; do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      log "LocalStack exited during start; last lines of $LS_HOME/localstack.log:"
      tail -20 "$LS_HOME/localstack.log" >&2
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then log "not healthy after 60 s; see $LS_HOME/localstack.log"; return 1; fi
    sleep 0.5
  done
  log "ready at $LS_URL (pid $(cat "$PIDFILE"))"
}

stop() {
  [ -f "$PIDFILE" ] || return 0
  local pid; pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped (pid $pid)"
  fi
  rm -f "$PIDFILE"
}

bootstrap() {
  AWS_ENDPOINT_URL="$LS_URL" "$VENV/bin/python" "$HERE/bootstrap.py" "$HERE/resources.json" >&2
}

tail_stream() {
  AWS_ENDPOINT_URL="$LS_URL" "$VENV/bin/python" "$HERE/tail_stream.py" "$@"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  bootstrap) bootstrap ;;
  tail-stream) shift; tail_stream "$@" ;;
  url) echo "$LS_URL" ;;
  *) echo "usage: $0 install|start|stop|bootstrap|tail-stream NAME [N]|url" >&2; exit 2 ;;
esac
