#!/usr/bin/env python3
"""Offline validation of the Gthulhu Kubernetes manifests.

Run through deployment/validate.sh, which provides a virtualenv with the
pinned `kubernetes-validate` (Kubernetes JSON schemas bundled in the package,
no network access at validation time).

Checks, all of which must pass:

1. Every YAML file under deployment/kubernetes parses. Every manifest that is
   not a kustomization or a patch validates against the Kubernetes schemas of
   each requested version in *strict* mode (unknown fields are errors, e.g. a
   misspelt `readinessProbe` key). Unknown kinds are errors too.
2. Every kustomization.yaml lists resources and patches that exist.
3. Every kustomization is rendered by a small built-in renderer (resources,
   namespace, images, strategic-merge patches with list merge by `name`, and
   JSON 6902 patches), and every rendered object is validated again: this
   covers the overlays' patches. If `kubectl` is installed, each
   kustomization is also rendered with `kubectl kustomize` and validated.
4. Policy checks from the specifications (decision-maker.md 13, manager.md
   16) on the rendered objects.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

try:
    import kubernetes_validate
except ImportError:  # pragma: no cover - guarded by validate.sh
    sys.exit("kubernetes-validate is not installed; run deployment/validate.sh")

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "CustomResourceDefinition",
    "PriorityClass",
}

errors: list[str] = []
checked = 0


def err(msg: str) -> None:
    errors.append(msg)
    print(f"ERROR {msg}")


def load_docs(path: Path) -> list:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def obj_id(obj: dict) -> str:
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{obj.get('kind')}/{(ns + '/') if ns else ''}{md.get('name')}"


# --------------------------------------------------------------------------
# schema validation


def validate_object(obj: dict, where: str, versions: list[str]) -> None:
    global checked
    if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
        err(f"{where}: document without apiVersion/kind")
        return
    for version in versions:
        checked += 1
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            err(f"{where}: {obj_id(obj)} (k8s {version}): {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            err(f"{where}: {obj_id(obj)}: {e.message}")
        except Exception as e:  # VersionNotSupportedError, InvalidSchemaError, ...
            err(f"{where}: {obj_id(obj)} (k8s {version}): {getattr(e, 'message', e)}")


# --------------------------------------------------------------------------
# kustomizations


def is_kustomization(path: Path) -> bool:
    return path.name in ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_refs(kdir: Path, k: dict) -> tuple[list[Path], list[Path]]:
    """(resources, patch files) referenced by a kustomization, as paths."""
    resources = [kdir / r for r in k.get("resources") or []]
    patches = []
    for p in k.get("patches") or []:
        if isinstance(p, dict) and "path" in p:
            patches.append(kdir / p["path"])
    for p in k.get("patchesStrategicMerge") or []:
        patches.append(kdir / p)
    for p in k.get("patchesJson6902") or []:
        patches.append(kdir / p["path"])
    return resources, patches


def check_kustomization(kfile: Path) -> set[Path]:
    """Checks references; returns the patch files it uses."""
    kdir = kfile.parent
    k = load_docs(kfile)[0]
    if k.get("kind") != "Kustomization":
        err(f"{kfile}: kind is not Kustomization")
    resources, patches = kustomization_refs(kdir, k)
    for r in resources:
        if r.is_dir():
            if not any((r / n).is_file() for n in ("kustomization.yaml", "kustomization.yml", "Kustomization")):
                err(f"{kfile}: resource directory {r} has no kustomization.yaml")
        elif not r.is_file():
            err(f"{kfile}: resource {r} does not exist")
    for p in patches:
        if not p.is_file():
            err(f"{kfile}: patch {p} does not exist")
    for unsupported in ("bases", "commonLabels", "configMapGenerator", "secretGenerator", "components"):
        if unsupported in k:
            err(f"{kfile}: '{unsupported}' is not supported by validate.py's renderer")
    return {p.resolve() for p in patches}


def strategic_merge(base, patch):
    """Minimal strategic merge: maps merge, lists of named maps merge by name,
    other lists are replaced, null deletes."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = strategic_merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        out = [copy.deepcopy(i) for i in base]
        for item in patch:
            for idx, existing in enumerate(out):
                if existing["name"] == item["name"]:
                    out[idx] = strategic_merge(existing, item)
                    break
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def json_pointer(doc, pointer: str):
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]
    parent = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    return parent, parts[-1]


def json6902(obj: dict, ops: list) -> dict:
    obj = copy.deepcopy(obj)
    for op in ops:
        parent, last = json_pointer(obj, op["path"])
        kind = op["op"]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, copy.deepcopy(op["value"]))
            elif kind == "replace":
                parent[index] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[index]
            else:
                raise ValueError(f"unsupported op {kind}")
        else:
            if kind in ("replace", "remove") and last not in parent:
                raise KeyError(f"path {op['path']} does not exist")
            if kind in ("add", "replace"):
                parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[last]
            else:
                raise ValueError(f"unsupported op {kind}")
    return obj


def target_matches(obj: dict, target: dict) -> bool:
    group, _, version = obj["apiVersion"].rpartition("/")
    checks = {
        "group": group,
        "version": version,
        "kind": obj.get("kind"),
        "name": obj["metadata"].get("name"),
        "namespace": obj["metadata"].get("namespace"),
    }
    return all(target[k] == v for k, v in checks.items() if k in target)


def render(kdir: Path) -> list[dict]:
    """Render a kustomization directory (the subset of kustomize we use)."""
    k = load_docs(kdir / "kustomization.yaml")[0]
    objs: list[dict] = []
    for r in k.get("resources") or []:
        path = kdir / r
        objs.extend(render(path) if path.is_dir() else load_docs(path))
    objs = [copy.deepcopy(o) for o in objs]
    if "namespace" in k:
        for o in objs:
            if o.get("kind") not in CLUSTER_SCOPED:
                o.setdefault("metadata", {})["namespace"] = k["namespace"]
            for s in o.get("subjects") or []:
                if s.get("kind") == "ServiceAccount":
                    s["namespace"] = k["namespace"]
    for p in k.get("patches") or []:
        docs = load_docs(kdir / p["path"])
        target = p.get("target")
        if len(docs) == 1 and isinstance(docs[0], list):  # JSON 6902
            if not target:
                raise ValueError(f"{kdir}: JSON 6902 patch {p['path']} needs a target")
            hits = [i for i, o in enumerate(objs) if target_matches(o, target)]
            if not hits:
                raise ValueError(f"{kdir}: patch {p['path']} matches no resource")
            for i in hits:
                objs[i] = json6902(objs[i], docs[0])
        else:  # strategic merge, matched by kind + name (+ target if given)
            for patch in docs:
                hits = [
                    i
                    for i, o in enumerate(objs)
                    if o.get("kind") == patch.get("kind")
                    and o["metadata"].get("name") == patch["metadata"].get("name")
                    and (not target or target_matches(o, target))
                ]
                if not hits:
                    raise ValueError(f"{kdir}: patch {p['path']} matches no resource")
                for i in hits:
                    merged = strategic_merge(objs[i], patch)
                    merged["metadata"]["namespace"] = objs[i]["metadata"].get("namespace")
                    if merged["metadata"]["namespace"] is None:
                        del merged["metadata"]["namespace"]
                    objs[i] = merged
    images = {i["name"]: i for i in k.get("images") or []}
    if images:
        for o in objs:
            spec = ((o.get("spec") or {}).get("template") or {}).get("spec") or o.get("spec") or {}
            for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                name = c.get("image", "").rsplit(":", 1)[0] if "@" not in c.get("image", "") else c["image"]
                if name in images:
                    img = images[name]
                    c["image"] = f"{img.get('newName', name)}:{img.get('newTag', 'latest')}"
    return objs


# --------------------------------------------------------------------------
# policy checks (specs: decision-maker.md 13, manager.md 16)


def pod_spec(o: dict):
    if o.get("kind") in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
        return o["spec"]["template"]["spec"], o["spec"]["template"]["metadata"].get("labels") or {}
    return None, None


def policy(objs: list[dict], where: str) -> None:
    seen = set()
    for o in objs:
        oid = obj_id(o)
        if oid in seen:
            err(f"{where}: duplicate object {oid}")
        seen.add(oid)
        spec, labels = pod_spec(o)
        if spec is None:
            continue
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            res = c.get("resources") or {}
            if not res.get("limits") or not res.get("requests"):
                err(f"{where}: {oid} container {c['name']}: resources requests and limits are required")
        if labels.get("app") == "decisionmaker":
            if not spec.get("hostPID"):
                err(f"{where}: {oid}: a Decision Maker pod needs hostPID: true")
            ports = [p for c in spec["containers"] for p in c.get("ports") or []]
            if not ports or ports[0].get("containerPort") != 8080 or ports[0].get("name") != "http":
                err(f"{where}: {oid}: the first declared containerPort must be 'http' 8080")
            dm = [c for c in spec["containers"] if any(p.get("name") == "http" for p in c.get("ports") or [])]
            for c in dm:
                if not (c.get("securityContext") or {}).get("privileged"):
                    err(f"{where}: {oid}: the DM container must be privileged (host cgroup namespace)")
                mounts = {m["mountPath"]: m for m in c.get("volumeMounts") or []}
                if not mounts.get("/proc", {}).get("readOnly"):
                    err(f"{where}: {oid}: the DM container needs host /proc read-only at /proc")
                env = {e["name"]: e for e in c.get("env") or []}
                if env.get("DM_SERVER_HOST", {}).get("value") != ":8080":
                    err(f"{where}: {oid}: DM_SERVER_HOST must be \":8080\"")
                mtls = env.get("DM_MTLS_ENABLE", {}).get("value") == "true"
                for probe in ("readinessProbe", "livenessProbe"):
                    p = c.get(probe) or {}
                    if mtls and "tcpSocket" not in p:
                        err(f"{where}: {oid}: with mTLS the DM {probe} must be tcpSocket")
                    if not mtls and (p.get("httpGet") or {}).get("path") != "/health":
                        err(f"{where}: {oid}: the DM {probe} must be httpGet /health")
        if o.get("kind") == "Deployment" and labels.get("app.kubernetes.io/name") == "gthulhu-manager":
            c = spec["containers"][0]
            env = {e["name"]: e for e in c.get("env") or []}
            if o["spec"].get("replicas", 1) > 1:
                if env.get("MANAGER_LEADER_ELECTION_ENABLE", {}).get("value") != "true":
                    err(f"{where}: {oid}: replicas > 1 need MANAGER_LEADER_ELECTION_ENABLE=true")
                if env.get("MANAGER_STORAGE_BACKEND", {}).get("value") != "mongodb":
                    err(f"{where}: {oid}: replicas > 1 need MANAGER_STORAGE_BACKEND=mongodb")
            sc = c.get("securityContext") or {}
            if not (sc.get("runAsNonRoot") and sc.get("readOnlyRootFilesystem")):
                err(f"{where}: {oid}: the Manager must run as non-root with a read-only root filesystem")


# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=str(Path(__file__).resolve().parent / "kubernetes"))
    ap.add_argument(
        "--kube-version",
        action="append",
        dest="versions",
        help="Kubernetes version(s) to validate against (repeatable; default 1.29.0 and the newest bundled)",
    )
    ap.add_argument("--no-kubectl", action="store_true", help="skip the `kubectl kustomize` cross-check")
    args = ap.parse_args()
    versions = args.versions or ["1.29.0", kubernetes_validate.latest_version()]
    root = Path(args.root)
    print(f"kubernetes-validate {kubernetes_validate.__version__}; Kubernetes {', '.join(versions)}; strict")

    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    kustomizations = [p for p in files if is_kustomization(p)]

    # 1 + 2: references, then every plain manifest.
    patch_files: set[Path] = set()
    for kfile in kustomizations:
        try:
            patch_files |= check_kustomization(kfile)
        except Exception as e:
            err(f"{kfile}: {e}")
    for path in files:
        if is_kustomization(path) or path.resolve() in patch_files:
            continue
        try:
            docs = load_docs(path)
        except yaml.YAMLError as e:
            err(f"{path}: YAML error: {e}")
            continue
        before = len(errors)
        for doc in docs:
            validate_object(doc, str(path), versions)
        if len(errors) == before:
            print(f"ok    {path} ({len(docs)} objects)")
    for path in sorted(patch_files):
        try:
            load_docs(path)
        except yaml.YAMLError as e:
            err(f"{path}: YAML error: {e}")

    # 3 + 4: rendered kustomizations.
    kubectl = None if args.no_kubectl else shutil.which("kubectl")
    for kfile in kustomizations:
        kdir = kfile.parent
        try:
            objs = render(kdir)
        except Exception as e:
            err(f"{kdir}: render failed: {e}")
            continue
        before = len(errors)
        for o in objs:
            validate_object(o, f"{kdir} (rendered)", versions)
        policy(objs, str(kdir))
        if len(errors) == before:
            print(f"ok    {kdir}/ rendered ({len(objs)} objects)")
        if kubectl:
            proc = subprocess.run([kubectl, "kustomize", str(kdir)], capture_output=True, text=True)
            if proc.returncode != 0:
                err(f"{kdir}: kubectl kustomize failed: {proc.stderr.strip()}")
                continue
            kobjs = [d for d in yaml.safe_load_all(proc.stdout) if d is not None]
            before = len(errors)
            for o in kobjs:
                validate_object(o, f"{kdir} (kubectl kustomize)", versions)
            policy(kobjs, f"{kdir} (kubectl kustomize)")
            if sorted(map(obj_id, kobjs)) != sorted(map(obj_id, objs)):
                err(f"{kdir}: kubectl kustomize and validate.py render different object sets")
            if len(errors) == before:
                print(f"ok    {kdir}/ kubectl kustomize ({len(kobjs)} objects)")
    if not kubectl and not args.no_kubectl:
        print("note  kubectl not found: skipped the `kubectl kustomize` cross-check")

    # The example is applied with `kubectl apply -f`: policy-check it too.
    for path in files:
        if "examples" in path.parts:
            policy(load_docs(path), str(path))

    print(f"validate: {len(files)} files, {checked} schema validations, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
