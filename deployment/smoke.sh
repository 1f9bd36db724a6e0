#!/usr/bin/env bash
# End-to-end smoke test against a cluster running deployment/kubernetes/base
# (used by CI on kind; works on any cluster where you may create a namespace).
#
#   deployment/smoke.sh
#
# 1. starts a busybox pod running `sleep` (label app=gthulhu-smoke);
# 2. port-forwards the Manager, logs in as the bootstrap admin (credentials
#    from Secret gthulhu-manager-admin) and creates a strategy selecting it;
# 3. port-forwards the Decision Maker on the pod's node, gets a DM token with
#    dm.pub (Secret gthulhu-keys), and waits until
#    GET /api/v1/scheduling/strategies serves the pod's `sleep` PID (as listed
#    by GET /api/v1/pods/pids) with the strategy's priority and slice;
# 4. deletes the strategy and waits until the DM's list no longer has it.
#
# Environment: NAMESPACE (gthulhu-system), SMOKE_NAMESPACE (gthulhu-smoke),
# KUBECTL (kubectl), MANAGER_LOCAL_PORT (18080), DM_LOCAL_PORT (18081),
# TIMEOUT_S per wait (180), KEEP=1 keeps the test namespace.
# Needs curl and jq.
set -euo pipefail

NS=${NAMESPACE:-gthulhu-system}
SMOKE_NS=${SMOKE_NAMESPACE:-gthulhu-smoke}
KUBECTL=${KUBECTL:-kubectl}
MPORT=${MANAGER_LOCAL_PORT:-18080}
DPORT=${DM_LOCAL_PORT:-18081}
TIMEOUT_S=${TIMEOUT_S:-180}
PRIORITY=3
SLICE_NS=20000000

work=$(mktemp -d)
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ $rc -ne 0 ]; then
    echo "---- smoke test failed; diagnostics ----" >&2
    "$KUBECTL" -n "$NS" get pods -o wide >&2 || true
    for f in "$work"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 20 "$f" >&2; }; done
    "$KUBECTL" -n "$NS" logs -l app.kubernetes.io/name=gthulhu-manager --tail=50 --prefix >&2 || true
    "$KUBECTL" -n "$NS" logs -l app=decisionmaker --tail=50 --prefix >&2 || true
  fi
  [ "${KEEP:-0}" = 1 ] || "$KUBECTL" delete namespace "$SMOKE_NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# wait_for DESCRIPTION COMMAND...: retry COMMAND every 2 s until it succeeds.
wait_for() {
  local what=$1; shift
  local deadline=$((SECONDS + TIMEOUT_S))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${TIMEOUT_S}s waiting for $what"
    sleep 2
  done
}

# port_forward TARGET LOCAL_PORT LOG: background port-forward, recorded for cleanup.
port_forward() {
  "$KUBECTL" -n "$NS" port-forward "$1" "$2:8080" --address 127.0.0.1 >"$3" 2>&1 &
  pids+=($!)
}

secret() { "$KUBECTL" -n "$NS" get secret "$1" -o "jsonpath={.data.${2//./\\.}}" | base64 -d; }

step "workload: busybox running sleep in namespace $SMOKE_NS"
"$KUBECTL" create namespace "$SMOKE_NS" --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
"$KUBECTL" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: sleeper
  namespace: $SMOKE_NS
  labels:
    app: gthulhu-smoke
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: sleeper
      image: busybox:1.36
      command: ["sleep", "3600"]
      resources:
        requests: {cpu: 10m, memory: 16Mi}
        limits: {cpu: 100m, memory: 32Mi}
EOF
"$KUBECTL" -n "$SMOKE_NS" wait --for=condition=Ready pod/sleeper --timeout="${TIMEOUT_S}s" >/dev/null
NODE=$("$KUBECTL" -n "$SMOKE_NS" get pod sleeper -o jsonpath='{.spec.nodeName}')
POD_UID=$("$KUBECTL" -n "$SMOKE_NS" get pod sleeper -o jsonpath='{.metadata.uid}')
echo "pod sleeper uid=$POD_UID node=$NODE"

step "Manager: port-forward, /health, /ready"
port_forward svc/gthulhu-manager "$MPORT" "$work/pf-manager.log"
M="http://127.0.0.1:$MPORT"
wait_for "Manager /health" sh -c "curl -fsS '$M/health' | jq -e '.status == \"healthy\"' >/dev/null"
wait_for "Manager /ready" curl -fsS -o /dev/null "$M/ready"

step "Manager: admin login"
EMAIL=$(secret gthulhu-manager-admin email)
PASSWORD=$(secret gthulhu-manager-admin password)
LOGIN=$(jq -n --arg u "$EMAIL" --arg p "$PASSWORD" '{username: $u, password: $p}')
TOKEN=$(curl -fsS "$M/api/v1/auth/login" -H 'Content-Type: application/json' -d "$LOGIN" | jq -er '.data.token') \
  || fail "admin login failed"
AUTH="Authorization: Bearer $TOKEN"

step "Manager: create a strategy for app=gthulhu-smoke"
STRATEGY=$(jq -n --arg ns "$SMOKE_NS" --argjson prio "$PRIORITY" --argjson slice "$SLICE_NS" \
  '{strategyNamespace: "smoke", labelSelectors: [{key: "app", value: "gthulhu-smoke"}],
    k8sNamespace: [$ns], commandRegex: "^sleep$", priority: $prio, executionTime: $slice}')
CREATED=$(curl -fsS "$M/api/v1/strategies" -H "$AUTH" -H 'Content-Type: application/json' -d "$STRATEGY")
echo "$CREATED"
STRATEGY_ID=$(echo "$CREATED" | jq -er '.data.strategyId') || fail "no strategyId in the reply"
# matchedPods may be 0 if the Manager's pod cache has not seen the pod yet;
# the reconciler then delivers the intent within one interval (30 s).

step "Decision Maker on node $NODE: port-forward, token"
DM_POD=$("$KUBECTL" -n "$NS" get pods -l app=decisionmaker --field-selector "spec.nodeName=$NODE" \
  -o jsonpath='{.items[0].metadata.name}')
[ -n "$DM_POD" ] || fail "no Decision Maker pod on node $NODE"
port_forward "pod/$DM_POD" "$DPORT" "$work/pf-dm.log"
D="http://127.0.0.1:$DPORT"
wait_for "DM /health" curl -fsS -o /dev/null "$D/health"
secret gthulhu-keys dm.pub > "$work/dm.pub"
DM_TOKEN=$(curl -fsS "$D/api/v1/auth/token" -H 'Content-Type: application/json' \
  -d "$(jq -n --rawfile k "$work/dm.pub" '{public_key: $k}')" | jq -er '.data.token') \
  || fail "DM token request failed"
DAUTH="Authorization: Bearer $DM_TOKEN"

step "Decision Maker: the sleeper's process in /api/v1/pods/pids"
sleeper_pid() {
  curl -fsS "$D/api/v1/pods/pids" -H "$DAUTH" \
    | jq -er --arg uid "$POD_UID" \
        '.data.pods[] | select(.pod_uid == $uid) | .processes[] | select(.command == "sleep") | .pid' \
    > "$work/pid" && [ -s "$work/pid" ]
}
wait_for "pod $POD_UID with a sleep process in pods/pids" sleeper_pid
PID=$(head -n1 "$work/pid")
echo "sleep runs as host PID $PID"

step "Decision Maker: /api/v1/scheduling/strategies serves PID $PID"
scheduled() {
  curl -fsS "$D/api/v1/scheduling/strategies" -H "$DAUTH" -H 'Content-Type: application/json' > "$work/strategies.json" \
    && jq -e --argjson pid "$PID" --argjson prio "$PRIORITY" --argjson slice "$SLICE_NS" \
         '.success == true and (.scheduling | type == "array")
          and any(.scheduling[]; .pid == $pid and .priority == $prio and .execution_time == $slice)' \
         "$work/strategies.json" >/dev/null
}
wait_for "PID $PID in the DM's scheduling list" scheduled
jq -c '.scheduling' "$work/strategies.json"

step "Manager: intents delivered"
curl -fsS "$M/api/v1/intents/self" -H "$AUTH" | jq -c '.data' || true

step "Manager: delete the strategy; the DM drops the PID"
curl -fsS -X DELETE "$M/api/v1/strategies" -H "$AUTH" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg id "$STRATEGY_ID" '{strategyId: $id}')" | jq -e '.success == true' >/dev/null \
  || fail "strategy delete failed"
unscheduled() {
  curl -fsS "$D/api/v1/scheduling/strategies" -H "$DAUTH" > "$work/strategies.json" \
    && jq -e --argjson pid "$PID" '.success == true and all(.scheduling[]; .pid != $pid)' \
         "$work/strategies.json" >/dev/null
}
wait_for "PID $PID to leave the DM's scheduling list" unscheduled

printf '\nsmoke test passed\n'
