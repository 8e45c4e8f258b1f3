#!/usr/bin/env bash
# Offline checks of deploy/kubernetes/: core kinds against the Kubernetes
# schemas (kubernetes-validate from PyPI carries them), the generated
# PrometheusRule up to date with config/alerts.yml and accepted by promtool,
# and the prometheus-operator resources pointing at what the core ones
# define. The sharding (every domain to exactly one pod ordinal) is
# tests/kubernetes.rs, run by `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=deploy/kubernetes
# 1.30: the oldest release checked (the pod-index label needs 1.28+);
# 1.37: the newest schemas the pinned kubernetes-validate carries.
versions=(1.30.0 1.37.0)

# Run as a module: a console script installed by `python3 -m pip` may not be
# on PATH yet (pyenv shims need a rehash).
python3 -c 'import kubernetes_validate' 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check 'kubernetes-validate==1.37.0'
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check pyyaml
if ! command -v promtool >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi

echo "-- core kinds against the Kubernetes schemas"
core=("$dir/configmap.yaml" "$dir/service.yaml" "$dir/statefulset.yaml" "$dir/poddisruptionbudget.yaml")
for version in "${versions[@]}"; do
  python3 -m kubernetes_validate --strict --quiet -k "$version" "${core[@]}"
  echo "valid against Kubernetes $version: ${core[*]##*/}"
done

echo "-- PrometheusRule generated from config/alerts.yml"
if ! diff -u "$dir/prometheus-operator/prometheusrule.yaml" <(scripts/gen-prometheusrule.sh --stdout); then
  echo "$dir/prometheus-operator/prometheusrule.yaml is stale: run scripts/gen-prometheusrule.sh" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$dir/prometheus-operator/prometheusrule.yaml" "$work/rules.yml" <<'PY'
import sys, yaml
rule = yaml.safe_load(open(sys.argv[1]))
assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
yaml.safe_dump(rule["spec"], open(sys.argv[2], "w"))
PY
promtool check rules "$work/rules.yml"

echo "-- prometheus-operator resources and kustomizations"
python3 - "$dir" <<'PY'
import os, sys, yaml
d = sys.argv[1]
def docs(path):
    return [x for x in yaml.safe_load_all(open(os.path.join(d, path))) if x]
for k in ("kustomization.yaml", "prometheus-operator/kustomization.yaml"):
    base = os.path.dirname(os.path.join(d, k))
    for r in docs(k)[0]["resources"]:
        assert os.path.isfile(os.path.join(base, r)), f"{k}: {r} missing"
services = docs("service.yaml")
sts = docs("statefulset.yaml")[0]
container = sts["spec"]["template"]["spec"]["containers"][0]
port = container["ports"][0]
assert port["containerPort"] == 10461, port
# The image's ENTRYPOINT already names the config file; a second
# --config.file makes the exporter refuse to start.
entrypoint = open("Dockerfile").read()
assert '"--config.file=/etc/mtasts-exporter/mtasts-exporter.yml"' in entrypoint
assert not any(a.startswith("--config.file") for a in container.get("args", [])), container["args"]
mount = [m for m in container["volumeMounts"] if m["name"] == "config"][0]
assert mount["mountPath"] == "/etc/mtasts-exporter", mount
assert "mtasts-exporter.yml" in docs("configmap.yaml")[0]["data"]
sm = docs("prometheus-operator/servicemonitor.yaml")[0]
assert sm["kind"] == "ServiceMonitor"
want = sm["spec"]["selector"]["matchLabels"]
hits = [s["metadata"]["name"] for s in services
        if all(s["metadata"].get("labels", {}).get(k) == v for k, v in want.items())]
assert hits == ["mtasts-exporter-headless"], f"ServiceMonitor selects {hits}: each pod must be scraped once"
assert {p["name"] for p in services[1]["spec"]["ports"]} >= {e["port"] for e in sm["spec"]["endpoints"]}
probe = docs("prometheus-operator/probe.yaml")[0]
assert probe["kind"] == "Probe" and probe["spec"]["prober"]["path"] == "/probe"
host, _, p = probe["spec"]["prober"]["url"].partition(":")
assert host.split(".")[0] == services[0]["metadata"]["name"] and p == "10461", probe["spec"]["prober"]
print("ServiceMonitor selects the headless Service only; Probe goes to the Service's /probe")
PY
