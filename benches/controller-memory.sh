#!/usr/bin/env bash
# Resident memory of `karpenter controller` once its watch caches have
# synced, with the API served from another process (`karpenter
# fake-apiserver`, an in-memory API server on 127.0.0.1 filled with a
# generated cluster: 5,000 nodes, realistic ~4 KB pods). For each pod count
# it starts the server, starts the controller against it, waits for
# /readyz (every watch has listed), waits 2 s more, and reads VmRSS (now)
# and VmHWM (peak) from /proc.
#
#   bash benches/controller-memory.sh [PODS...]     (default: 10000 50000 150000)
#
# Uses the debug binary that `cargo build -p karpenter-k8s --bin karpenter`
# builds (set CARGO_TARGET_DIR as for the rest of the workspace).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/karpenter-rs/target}"
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-west-2
cargo build -q -p karpenter-k8s --bin karpenter
bin="$CARGO_TARGET_DIR/debug/karpenter"
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(10000 50000 150000)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

printf '%-8s %-7s %-12s %-12s %-10s\n' pods nodes "rss (MB)" "peak (MB)" "sync (s)"
for pods in "${counts[@]}"; do
  rm -f "$work/kubeconfig"
  "$bin" fake-apiserver --nodes 5000 --pods "$pods" --kubeconfig-out "$work/kubeconfig" >"$work/api.log" 2>&1 &
  api=$!
  for _ in $(seq 600); do [ -f "$work/kubeconfig" ] && break; sleep 0.5; done
  [ -f "$work/kubeconfig" ] || { echo "fake-apiserver did not start" >&2; cat "$work/api.log" >&2; exit 1; }
  health=$(free_port)
  start=$(date +%s.%N)
  KUBECONFIG="$work/kubeconfig" RUST_LOG=warn "$bin" controller \
    --metrics-bind-address 127.0.0.1:0 --health-probe-bind-address "127.0.0.1:$health" \
    >"$work/controller.log" 2>&1 &
  ctl=$!
  for _ in $(seq 1200); do
    if python3 -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$health/readyz', timeout=1).status == 200 else 1)" 2>/dev/null; then
      break
    fi
    sleep 0.25
  done
  synced=$(echo "$(date +%s.%N) - $start" | bc)
  sleep 2
  rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$ctl/status")
  hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$ctl/status")
  printf '%-8s %-7s %-12s %-12s %-10.1f\n' "$pods" 5000 "$rss" "$hwm" "$synced"
  kill "$ctl" "$api"; wait "$ctl" "$api" 2>/dev/null || true
done
