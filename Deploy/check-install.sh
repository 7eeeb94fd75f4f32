#!/usr/bin/env bash
# The install's done-when check: installs fireball into a temporary prefix with a temporary HOME
# and XDG folders, then from an empty folder elsewhere, with a configuration file and no path
# flags: version, run --board cortex-m33, context set/use, certs, plan; and with --cluster also
# two node processes on free loopback ports: apply, status, logs -f, cordon, drain, uncordon,
# delete, and status failing fast with a node down. Exits non-zero at the first step that fails.
# Usage: Deploy/check-install.sh [--cluster]
# FIREBALL_BUILT=DIR uses the fireball already built in DIR (else install.sh builds release).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cluster=false
[[ "${1:-}" == "--cluster" ]] && cluster=true
work="$(mktemp -d -t fireball-check.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "check-install: $*" >&2; for log in "$work"/*.log; do [[ -f "$log" ]] && { echo "--- $log" >&2; tail -15 "$log" >&2; }; done; exit 1; }
step() { echo "== $*"; }

export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_STATE_HOME="$work/home/.local/state" XDG_RUNTIME_DIR="$work/run"
unset FIREBALL_CONFIG FIREBALL_BOARDS
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
prefix="$work/prefix"
"$repo/Deploy/install.sh" "$prefix" >"$work/install.out" 2>&1 || { cat "$work/install.out" >&2; fail "install.sh failed"; }
export PATH="$prefix/bin:$PATH"
share="$prefix/share/fireball"
[[ -f "$share/boards/cortex-m33.yaml" && -f "$share/sdk/fireball.h" && -f "$share/examples/ping.wasm" ]] || fail "the install lacks boards, sdk or examples"

empty="$work/elsewhere/empty"
mkdir -p "$empty"
cd "$empty"

step "fireball version"
# Outputs are captured before they are searched: `grep -q` in a pipe may close it early (SIGPIPE).
version="$(fireball version)" || fail "version"
[[ "$version" == "fireball $(fireball --version)"* ]] || fail "--version and version differ: $version"

step "fireball run --board cortex-m33 (boards found beside the executable)"
fireball run --board cortex-m33 "$share/examples/blinky.wasm" --timeout 5s >"$work/run.out" 2>&1 || fail "run --board cortex-m33: $(cat "$work/run.out")"
grep -q "board cortex-m33" "$work/run.out" || fail "run did not use the cortex-m33 board"

step "fireball context set/use, certs from the context"
certs="$work/certs"
fireball context set check --inventory "$work/cluster.yaml" --certs "$certs" >/dev/null 2>&1
[[ -f "$XDG_CONFIG_HOME/fireball/config.yaml" ]] || fail "context set did not write \$XDG_CONFIG_HOME/fireball/config.yaml"
fireball context use check >/dev/null
[[ "$(fireball context list)" == "* check"* ]] || fail "context list does not mark check current"
fireball certs init >/dev/null
[[ -f "$certs/ca.pem" ]] || fail "certs init did not use the context's certs"

# Two nodes on free ports; node names unique to this run (their control sockets are per name).
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
a="chk$$a" b="chk$$b"
cat >"$work/cluster.yaml" <<YAML
cluster: check
boards: prefix/share/fireball/boards
nodes:
  - name: $a
    address: 127.0.0.1:$(port)
    board: esp32-c3
    labels: {power: mains}
  - name: $b
    address: 127.0.0.1:$(port)
    board: cortex-m33
    labels: {power: mains}
YAML
for node in "$a" "$b"; do fireball certs issue "$node" --role node >/dev/null; done
fireball certs issue orchestrator --role orchestrator >/dev/null
cat >"$work/pingpong.yaml" <<YAML
app: pingpong
modules:
  - name: pong
    wasm: prefix/share/fireball/examples/pong.wasm
    serves: [fireball://pong/echo]
  - name: ping
    wasm: prefix/share/fireball/examples/ping.wasm
    uses: [fireball://pong/echo]
YAML

step "fireball plan (inventory from the context, boards from the inventory)"
fireball plan "$work/pingpong.yaml" >"$work/plan.out" 2>&1 || fail "plan: $(cat "$work/plan.out")"
grep -q "$a\|$b" "$work/plan.out" || fail "plan names no node"
[[ "$(fireball plan "$work/pingpong.yaml" -o json)" == *'"placed"'* ]] || fail "plan -o json"

if $cluster; then
  for node in "$a" "$b"; do
    fireball node --inventory "$work/cluster.yaml" --name "$node" --certs "$certs" --data "$work/data/$node" >"$work/$node.log" 2>&1 &
    pids+=($!)
    eval "pid_$node=$!"
  done
  step "fireball apply (creates the context's state and says where)"
  fireball apply "$work/pingpong.yaml" --connect-timeout 10s >"$work/apply.out" 2>&1 || fail "apply: $(cat "$work/apply.out")"
  grep -q "creating the orchestrator state at $XDG_STATE_HOME/fireball/check" "$work/apply.out" || fail "apply did not say where it created the state: $(cat "$work/apply.out")"
  step "fireball status (0: everything desired runs)"
  fireball status >"$work/status.out" 2>&1 || fail "status exited $?: $(cat "$work/status.out")"
  step "fireball logs -f"
  fireball logs ping -f >"$work/logs.out" 2>&1 &
  logs=$!
  for _ in $(seq 100); do grep -q "ping" "$work/logs.out" && break; sleep 0.1; done
  kill -INT "$logs"; wait "$logs" || true
  grep -q "ping" "$work/logs.out" || fail "logs -f showed nothing: $(cat "$work/logs.out")"
  step "fireball cordon / status / uncordon / drain / delete"
  fireball cordon "$b" >/dev/null
  [[ "$(fireball status 2>/dev/null)" == *"cordoned"*"$b"* ]] || fail "status does not show $b cordoned"
  fireball uncordon "$b" >/dev/null
  fireball drain "$b" >"$work/drain.out" 2>&1 || fail "drain: $(cat "$work/drain.out")"
  fireball uncordon "$b" >/dev/null
  fireball delete pingpong >/dev/null || fail "delete"
  step "fireball status with a node down: non-zero, within one connect timeout"
  kill -TERM "$(eval echo "\$pid_$b")"; wait "$(eval echo "\$pid_$b")" || true
  started=$SECONDS
  set +e; fireball status --connect-timeout 2s >/dev/null 2>"$work/status-down.err"; status=$?; set -e
  [[ $status -eq 3 ]] || fail "status with $b down exited $status, not 3: $(cat "$work/status-down.err")"
  (( SECONDS - started <= 6 )) || fail "status with a node down took $(( SECONDS - started )) s"
fi

[[ -z "$(ls -A "$empty")" ]] || fail "a command wrote into the current folder: $(ls -A "$empty")"
echo "check-install: all steps passed"
