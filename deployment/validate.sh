#!/usr/bin/env bash
# Validates the Kubernetes manifests offline (no cluster, no schema download):
# strict JSON-schema validation against the schemas bundled in the PyPI
# package kubernetes-validate, kustomization reference checks, rendered
# overlays, and policy checks from the specs. See validate.py.
#
#   deployment/validate.sh [VENV_DIR]        (default: .venv-validate)
#
# Needs python3 (with venv) and, once, access to PyPI to install the pinned
# validator into VENV_DIR. Extra arguments after VENV_DIR go to validate.py
# (e.g. --kube-version 1.31.0, --no-kubectl). Exits non-zero on any error.
set -euo pipefail

KUBERNETES_VALIDATE_VERSION=1.37.0
PYYAML_VERSION=6.0.2

here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-.venv-validate}
shift || true

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
installed=$("$venv/bin/python" -c \
  'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null || true)
if [ "$installed" != "$KUBERNETES_VALIDATE_VERSION" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "PyYAML==$PYYAML_VERSION"
fi

exec "$venv/bin/python" "$here/validate.py" --root "$here/kubernetes" "$@"
