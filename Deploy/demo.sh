#!/usr/bin/env bash
# The README's main job: a local three-node cluster running the greenhouse app (Docs/greenhouse.md).
# Creates certificates, starts three `fireball node` processes (ESP32-C3, micro:bit, Cortex-M33 on
# 127.0.0.1:7401-7403), plans and applies the app, shows messages crossing nodes and the status
# table, kills a node to show the controller's failover and the node's restart from its data
# directory, then drains everything (SIGTERM) and exits. Runs for about 40 s and then stops.
# The single-node tour (interpreter, devices, traps, messages) is Deploy/demo-node.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
Deploy/setup.sh
echo "== building fireball (release)" >&2
swift build -c release --product fireball 2>&1 | grep -E "error|warning: |Build complete" >&2 || true
fireball="$(swift build -c release --show-bin-path)/fireball"
inventory=Deploy/clusters/local.yaml
app=Deploy/apps/greenhouse.yaml

work="$(mktemp -d -t fireball-demo.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for port in 7401 7402 7403; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is in use (another demo still running?); the local cluster needs 7401-7403" >&2; exit 1
  fi
done

cluster=(--inventory "$inventory" --certs "$work/certs" --state "$work/orchestrator")
# Prints a node's new lines since the last call, prefixed with its name.
declare -A seen
show() {
  local node=$1 pattern=$2 limit=${3:-6} total
  total=$(wc -l <"$work/$node.log")
  tail -n +"$(( ${seen[$node]:-0} + 1 ))" "$work/$node.log" | grep -E "$pattern" | tail -n "$limit" | sed "s/^/  [$node] /" || true
  seen[$node]=$total
}
wait_for() {   # wait_for FILE TEXT SECONDS
  local deadline=$(( SECONDS + $3 ))
  until grep -q -- "$2" "$1"; do
    (( SECONDS < deadline )) || { echo "demo: '$2' did not appear in $1 within $3 s:" >&2; tail -20 "$1" >&2; exit 1; }
    sleep 0.1
  done
}
start_node() {
  "$fireball" node --inventory "$inventory" --name "$1" --certs "$work/certs" --data "$work/data/$1" >>"$work/$1.log" 2>&1 &
  pids+=($!)
  eval "pid_$1=$!"
}

echo
echo "== certificates: a cluster CA, three nodes, one orchestrator (EC P-256, TLS 1.3, mutual)"
"$fireball" certs init --certs "$work/certs" >/dev/null
for node in c3 microbit m33; do "$fireball" certs issue "$node" --role node --certs "$work/certs" >/dev/null; done
"$fireball" certs issue orchestrator --role orchestrator --certs "$work/certs"

echo
echo "== three node processes, one per board; they link up with each other"
for node in c3 microbit m33; do start_node "$node"; done
for node in c3 microbit m33; do wait_for "$work/$node.log" "link with .* (node) up" 10; done
sleep 0.5
for node in c3 microbit m33; do show "$node" "board up|link with"; done

echo
echo "== plan: where each module fits (partitions, devices, labels)"
"$fireball" plan "$app" --inventory "$inventory" | sed -n '1,5p'

echo
echo "== apply: push each module with its SHA-256 and start it"
"$fireball" apply "$app" "${cluster[@]}"
sleep 4
echo
echo "== messages crossing nodes: sensor (c3) -> aggregator (microbit) -> actuator (m33)"
show c3 "\[sensor\]" 4
show microbit "\[aggregator\]" 6
show m33 "\[actuator\]" 4

echo
echo "== status"
"$fireball" status "${cluster[@]}" | sed -n '1,12p' || true   # exit 3 would only mean something is not running yet

echo
echo "== failover: the controller watches the nodes; the aggregator's node (microbit) is killed (SIGKILL)"
"$fireball" controller "${cluster[@]}" >"$work/controller.log" 2>&1 &
controller=$!
pids+=($controller)
wait_for "$work/controller.log" "watching" 10
sleep 1
kill -KILL "$pid_microbit"
wait "$pid_microbit" 2>/dev/null || true
wait_for "$work/controller.log" "app greenhouse: started" 10
sed 's/^/  /' "$work/controller.log" | grep -E "dead|started|down"
sleep 5
echo "  the sensor's pending send failed with a defined error, then it found the new aggregator:"
show c3 "\[sensor\].*(lost|reconnected)|\[aggregator\].*connected" 6

echo
echo "== microbit restarts from its data directory; the controller stops its now-duplicate aggregator"
start_node microbit
wait_for "$work/microbit.log" "restored" 10
wait_for "$work/microbit.log" "stopped greenhouse/aggregator" 10
show microbit "restored|stopped"
"$fireball" status "${cluster[@]}" | sed -n '6,10p' || true   # exit 3 would only mean something is not running yet

echo
echo "== shutdown: SIGTERM drains every node (guests stopped, links closed with a goodbye)"
kill -TERM "$controller"; wait "$controller" 2>/dev/null || true
for node in c3 microbit m33; do
  pid_var="pid_$node"; kill -TERM "${!pid_var}"; wait "${!pid_var}" && status=0 || status=$?
  echo "  [$node] $(grep -E "drained$" "$work/$node.log" | tail -1) (exit $status)"
done
pids=()
echo "demo done"
