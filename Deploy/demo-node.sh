#!/usr/bin/env bash
# One node, no cluster: a node's kernel running C guests that talk over CSP channels,
# the interpreter on real benchmarks in 300 µs slices, a trap and a refused module, and a typed
# key-value message on the wire. The cluster demo is Deploy/demo.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
Deploy/setup.sh
echo "== building fireball (release)" >&2
swift build -c release --product fireball 2>&1 | grep -E "error|warning: |Build complete" >&2 || true
fireball="$(swift build -c release --show-bin-path)/fireball"
Bench/build.sh .build/bench   # the benchmark programs of Bench/programs, built with clang
bench=.build/bench

"$fireball" version
examples=Deploy/examples
echo
echo "== one node, four guests (C built with clang): ping/pong rendezvous and a sensor pipeline over fireball:// channels"
"$fireball" run "$examples/pong.wasm" "$examples/ping.wasm" "$examples/consumer.wasm" "$examples/producer.wasm" 2>&1 \
  | grep -E "ping: (echo ok (1|10)$|10 of)|pong: channel closed|producer: (sent #(1|40) |done)|consumer: (#(1|40) |done)|task" || true
echo
echo "== a Cortex-M33 board's devices: blinky blinks pin 5 on a timer interrupt and reads its TMP102 over I2C;"
echo "   meanwhile \`fireball hal\` presses the button (pin 4 edges -> interrupts) and warms the sensor"
"$fireball" run --board cortex-m33 --name demo-m33 --grant blinky=uart0,gpio0,timer0,i2c0 "$examples/blinky.wasm" &
node=$!
sleep 1.2
for level in 1 0 1 0 1; do "$fireball" hal demo-m33 gpio set 4 $level >/dev/null; done
"$fireball" hal demo-m33 i2c temp 0x48 27.75
wait $node
"$fireball" run --board cortex-m33 "$examples/blinky.wasm" 2>&1 | grep -E "EPERM" | head -1 || true
echo
echo "== a WASI guest (wasi-libc printf) on the same kernel"
"$fireball" run "$examples/hello.wasm"
echo
echo "== benchmark programs (clang -O2 wasm32, Bench/) on the resumable interpreter, in 300 µs slices"
programs=("$bench sha256 1 4490266013855788995" "$bench matmul 10 3328223506537895695")
# CoreMark is not built from this repository (Bench/README.md); it runs when a prebuilt one is at hand.
external="${FIREBALL_BENCH_MODULES:-../shared/bench}"
if [ -f "$external/coremark.wasm" ]; then
  programs=("$external coremark 1000 119616" "${programs[@]}")
else
  echo "(CoreMark skipped: no $external/coremark.wasm; set FIREBALL_BENCH_MODULES to a folder with one to add it)"
fi
slices="$(mktemp)"
for program in "${programs[@]}"; do
  set -- $program
  start=$(date +%s%N)
  result=$("$fireball" run "$1/$2.wasm" --invoke run "$3" --slice 300us 2>"$slices")
  end=$(date +%s%N)
  echo "$2 run($3) = $result (expected i64:$4) in $(( (end - start) / 1000000 )) ms, $(cat "$slices")"
done
rm -f "$slices"
echo "(against wasm3, WAMR and WasmKit: swift run -c release fireball-bench wasm, with the peers in FIREBALL_PEERS or ../shared/peers)"
echo
echo "== a trap is a value: the guest's call ends, with the reason and the function"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/div.c" <<'C'
__attribute__((noinline)) static int divide(int a, int b) { return a / b; }
__attribute__((export_name("ratio"))) int ratio(int a, int b) { return divide(a, b); }
C
clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -o "$tmp/div.wasm" "$tmp/div.c"
"$fireball" run "$tmp/div.wasm" --invoke ratio 84 2
"$fireball" run "$tmp/div.wasm" --invoke ratio 1 0 || echo "(exit $?)"
echo
echo "== a board without an FPU refuses a float module at load"
echo '__attribute__((export_name("scale"))) float scale(float x) { return x * 1.5f; }' > "$tmp/scale.c"
clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -o "$tmp/scale.wasm" "$tmp/scale.c"
"$fireball" run "$tmp/scale.wasm" --invoke scale 2.5
"$fireball" run "$tmp/scale.wasm" --invoke scale 2.5 --no-float || echo "(exit $?)"
echo
echo "== a typed key-value message, as a guest would send it"
"$fireball" message encode --dictionary temperature,humidity 1=u32:42 @temperature=f32:21.5 @humidity=i32:55 2=shm:7
hex=$("$fireball" message encode --compact --dictionary temperature,humidity 1=u32:42 @temperature=f32:21.5 @humidity=i32:55 2=shm:7)
echo "decoded: $("$fireball" message decode --dictionary temperature,humidity "$hex")"
bad="${hex:0:$((${#hex} - 8))}$(echo "${hex: -8}" | sed -E 's/^(..)(..)/\2\1/')"
"$fireball" message decode --dictionary temperature,humidity "$bad" 2>&1 || echo "(exit $?: refused as it should be)"
