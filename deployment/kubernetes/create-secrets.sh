#!/usr/bin/env bash
# Creates (or updates) the Secrets the Gthulhu manifests expect, generating
# any key material that is not there yet.
#
#   deployment/kubernetes/create-secrets.sh [--mtls]
#
# Environment:
#   NAMESPACE       target namespace (default gthulhu-system; created if absent)
#   KEYS_DIR        where keys and certificates are kept (default ./gthulhu-secrets);
#                   existing files are reused, never overwritten
#   ADMIN_EMAIL     bootstrap admin (default admin@example.com)
#   ADMIN_PASSWORD  bootstrap admin password (default: random, stored in KEYS_DIR)
#   RSA_BITS        token key size (default 4096, as upstream)
#   KUBECTL         kubectl command (default kubectl)
#
# KEYS_DIR holds private keys: keep it out of version control.
set -euo pipefail

NAMESPACE=${NAMESPACE:-gthulhu-system}
KEYS_DIR=${KEYS_DIR:-./gthulhu-secrets}
ADMIN_EMAIL=${ADMIN_EMAIL:-admin@example.com}
RSA_BITS=${RSA_BITS:-4096}
KUBECTL=${KUBECTL:-kubectl}
MTLS=false
for arg in "$@"; do
  case "$arg" in
    --mtls) MTLS=true ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# We cd into KEYS_DIR below: make a relative KUBECTL path absolute first.
case "$KUBECTL" in ./*|../*) KUBECTL="$PWD/$KUBECTL" ;; esac

umask 077
mkdir -p "$KEYS_DIR"
cd "$KEYS_DIR"

gen() { # gen FILE COMMAND...: run COMMAND only if FILE does not exist yet
  local file=$1; shift
  if [ -s "$file" ]; then echo "reusing $KEYS_DIR/$file"; else "$@"; echo "generated $KEYS_DIR/$file"; fi
}
rand() { openssl rand -base64 48 | tr -d '/+=\n' | cut -c1-32; }

# Token keys. dm.key signs DM tokens; dm.pub is what the Manager and the
# scheduler present. manager.key signs the Manager's user JWTs.
gen dm.key      openssl genrsa -traditional -out dm.key "$RSA_BITS"
gen dm.pub      openssl rsa -in dm.key -pubout -out dm.pub
gen manager.key openssl genrsa -traditional -out manager.key "$RSA_BITS"

# Passwords and the replica-set keyfile.
gen admin-password      sh -c "printf '%s' \"\${ADMIN_PASSWORD:-$(rand)}\" > admin-password"
gen mongo-root-password sh -c "printf '%s' '$(rand)' > mongo-root-password"
gen mongo-password      sh -c "printf '%s' '$(rand)' > mongo-password"
gen mongodb-keyfile     sh -c "openssl rand -base64 756 > mongodb-keyfile"

if $MTLS; then
  # EC P-256 keys in SEC1 form ("BEGIN EC PRIVATE KEY"), as the upstream chart.
  gen ca.key      openssl ecparam -name prime256v1 -genkey -noout -out ca.key
  gen ca.crt      openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=gthulhu-ca" \
                    -addext "basicConstraints=critical,CA:TRUE" \
                    -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt
  gen dm.tls.key  openssl ecparam -name prime256v1 -genkey -noout -out dm.tls.key
  if [ ! -s dm.crt ]; then
    cat > dm.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:*.decisionmaker.${NAMESPACE}.svc,DNS:*.decisionmaker.${NAMESPACE}.svc.cluster.local,DNS:*.gthulhu-scheduler-sidecar.${NAMESPACE}.svc,DNS:*.gthulhu-scheduler-sidecar.${NAMESPACE}.svc.cluster.local
EXT
    openssl req -new -key dm.tls.key -subj "/CN=gthulhu-decisionmaker" -out dm.csr
    openssl x509 -req -in dm.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 825 \
      -extfile dm.ext -out dm.crt
    rm -f dm.csr dm.ext
    echo "generated $KEYS_DIR/dm.crt"
  fi
  gen manager.tls.key openssl ecparam -name prime256v1 -genkey -noout -out manager.tls.key
  if [ ! -s manager.crt ]; then
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > manager.ext
    openssl req -new -key manager.tls.key -subj "/CN=gthulhu-manager" -out manager.csr
    openssl x509 -req -in manager.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 825 \
      -extfile manager.ext -out manager.crt
    rm -f manager.csr manager.ext
    echo "generated $KEYS_DIR/manager.crt"
  fi
fi

apply_secret() { # apply_secret NAME ARGS...: create-or-update, idempotent
  local name=$1; shift
  "$KUBECTL" -n "$NAMESPACE" create secret generic "$name" "$@" --dry-run=client -o yaml \
    | "$KUBECTL" apply -f -
}

"$KUBECTL" get namespace "$NAMESPACE" >/dev/null 2>&1 || "$KUBECTL" create namespace "$NAMESPACE"

apply_secret gthulhu-keys \
  --from-file=dm.key=dm.key --from-file=dm.pub=dm.pub --from-file=manager.key=manager.key
apply_secret gthulhu-manager-admin \
  --from-literal=email="$ADMIN_EMAIL" --from-file=password=admin-password
apply_secret mongodb-auth \
  --from-literal=root-username=root --from-file=root-password=mongo-root-password \
  --from-literal=username=gthulhu-manager --from-file=password=mongo-password
apply_secret mongodb-keyfile --from-file=keyfile=mongodb-keyfile
if $MTLS; then
  apply_secret gthulhu-mtls \
    --from-file=ca.crt=ca.crt --from-file=dm.crt=dm.crt --from-file=dm.key=dm.tls.key \
    --from-file=manager.crt=manager.crt --from-file=manager.key=manager.tls.key
fi
echo "Secrets ready in namespace $NAMESPACE (admin: $ADMIN_EMAIL, password in $KEYS_DIR/admin-password)"
