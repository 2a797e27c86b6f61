#!/usr/bin/env python3
"""Checks for deploy/validate.sh that no off-the-shelf tool makes: how the files in deploy/
fit together (selectors, ports, mounts, names), which metric names they use, and whether a
live gateway and a live Prometheus agree with them.

Usage: validate.py COMMAND [ARGS...]; every command prints what it checked and exits 1 on a
failure. Only the standard library and PyYAML (a dependency of kubernetes-validate).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent

# A metric name as it appears in PromQL. Histogram suffixes are resolved against the
# exposition below.
METRIC_RE = re.compile(r"\bsealgate_[a-z0-9_]+")
WEBHOOK_PREFIX = "sealgate_webhook_"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# The Grafana variables the dashboard uses, replaced for a Prometheus query.
GRAFANA_VARS = {"$__rate_interval": "1m", "$job": "sealgate", "$instance": ".*"}

problems: list[str] = []


def fail(message: str) -> None:
    problems.append(message)
    print(f"  problem: {message}")


def ok(message: str) -> None:
    print(f"  ok: {message}")


def finish() -> int:
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    return 0


def load_yaml_docs(path: Path) -> list[dict]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


# --- Dockerfile ---------------------------------------------------------------------------


def cmd_dockerfile_copies(dockerfile: str) -> int:
    """Every workspace member is COPYed into the build stage, and the workspace loads from
    exactly the copied files."""
    text = Path(dockerfile).read_text()
    copied = set()
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
            copied.update(p.rstrip("/") for p in parts[1:-1])
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
    )
    for member in meta["workspace_members"]:
        package = next(p for p in meta["packages"] if p["id"] == member)
        rel = str(Path(package["manifest_path"]).parent.relative_to(ROOT))
        if rel in copied:
            ok(f"workspace member {rel} is copied")
        else:
            fail(f"workspace member {rel} is not COPYed in {dockerfile}")
    for needed in ("Cargo.toml", "Cargo.lock", "deploy/healthcheck"):
        if needed in copied:
            ok(f"{needed} is copied")
        else:
            fail(f"{needed} is not COPYed in {dockerfile}")
    for path in sorted(copied):
        if not (ROOT / path).exists():
            fail(f"COPY source {path} does not exist")
    # The build stage sees only the copied paths: load the workspace from such a tree. Loading
    # it resolves every locked package, for every platform, so fetch them first (a build only
    # downloads its own platform's).
    fetched = subprocess.run(
        ["cargo", "fetch", "--locked"], cwd=ROOT, capture_output=True, text=True
    )
    if fetched.returncode != 0:
        fail(f"cargo fetch --locked cannot download the locked packages: {fetched.stderr.strip()[-400:]}")
        return finish()
    with tempfile.TemporaryDirectory() as tmp:
        for path in copied:
            src, dst = ROOT / path, Path(tmp) / path
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("target"))
            else:
                shutil.copy2(src, dst)
        result = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--offline"],
            cwd=tmp, capture_output=True, text=True,
        )
        if result.returncode == 0:
            ok("the workspace loads (cargo metadata --locked) from the copied files alone")
        else:
            fail(f"cargo metadata fails on the copied files: {result.stderr.strip()[-400:]}")
    return finish()


# --- Kubernetes ---------------------------------------------------------------------------


def k8s_objects() -> dict[tuple[str, str], dict]:
    objects = {}
    for path in sorted((DEPLOY / "kubernetes").rglob("*.yaml")):
        for doc in load_yaml_docs(path):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def cmd_k8s(_: list[str]) -> int:
    """What the schemas cannot see: the objects refer to each other correctly and the
    gateway's pod keeps the hardening the issue asks for."""
    objs = k8s_objects()
    dep = objs[("Deployment", "sealgate")]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    (ok if selects(spec["selector"]["matchLabels"], pod_labels) else fail)("Deployment selector matches its pod labels")
    (ok if spec.get("replicas", 0) >= 2 else fail)(f"Deployment replicas {spec.get('replicas')} >= 2")
    (c,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    env = {e["name"]: e for e in c["env"]}

    def port_of(probe: dict) -> int:
        port = probe["httpGet"]["port"]
        return ports[port] if isinstance(port, str) else port

    rp, lp = c["readinessProbe"], c["livenessProbe"]
    (ok if rp["httpGet"]["path"] == "/readyz" else fail)("readiness probe on /readyz")
    (ok if lp["httpGet"]["path"] == "/healthz" else fail)("liveness probe on /healthz")
    listen_port = int(env["SEALGATE_LISTEN"]["value"].rsplit(":", 1)[1])
    metrics_port = int(env["SEALGATE_METRICS_LISTEN"]["value"].rsplit(":", 1)[1])
    (ok if port_of(rp) == listen_port == port_of(lp) else fail)(f"probes hit the API port {listen_port}")
    tls = "SEALGATE_TLS_CERT" in env
    (ok if (rp["httpGet"].get("scheme") == "HTTPS") == tls else fail)("probe scheme matches TLS")
    (ok if ports.get("metrics") == metrics_port else fail)(f"port 'metrics' is SEALGATE_METRICS_LISTEN's {metrics_port}")
    ann = spec["template"]["metadata"].get("annotations", {})
    (ok if ann.get("prometheus.io/port") == str(metrics_port) else fail)("prometheus.io/port annotation names the metrics port")
    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            (ok if r in res.get(kind, {}) else fail)(f"resources.{kind}.{r} set")
    sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
    checks = [
        (psc.get("runAsNonRoot") is True, "pod runAsNonRoot"),
        (psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccompProfile RuntimeDefault"),
        (sc.get("allowPrivilegeEscalation") is False, "container allowPrivilegeEscalation false"),
        (sc.get("readOnlyRootFilesystem") is True, "container readOnlyRootFilesystem"),
        (sc.get("capabilities", {}).get("drop") == ["ALL"], "container drops ALL capabilities"),
        (pod.get("automountServiceAccountToken") is False, "no service account token"),
        (len(pod.get("topologySpreadConstraints", [])) >= 1, "topology spread constraints"),
    ]
    for cond, what in checks:
        (ok if cond else fail)(what)
    for tsc in pod.get("topologySpreadConstraints", []):
        (ok if selects(tsc["labelSelector"]["matchLabels"], pod_labels) else fail)(f"spread on {tsc['topologyKey']} selects the pods")
    # The termination grace period covers the preStop sleep and the gateway's own grace.
    toml_text = objs[("ConfigMap", "sealgate-config")]["data"]["sealgate.toml"]
    grace = int(re.search(r"shutdown_grace_secs\s*=\s*(\d+)", toml_text).group(1))
    pre = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    tgp = pod.get("terminationGracePeriodSeconds", 30)
    (ok if pre + grace < tgp else fail)(f"preStop {pre}s + shutdown_grace_secs {grace}s < terminationGracePeriodSeconds {tgp}s")
    # Volumes: the config file the args name is in the ConfigMap; the TLS paths are in the
    # mounted Secret; every referenced Secret key is in the template.
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    cfg_arg = c["args"][c["args"].index("--config") + 1]
    cfg_vol = vols["config"]["configMap"]["name"]
    (ok if cfg_arg == f"{mounts['config']}/sealgate.toml" and ("ConfigMap", cfg_vol) in objs else fail)(f"--config {cfg_arg} is in ConfigMap {cfg_vol}")
    tls_secret = vols["tls"]["secret"]["secretName"]
    for var, key in (("SEALGATE_TLS_CERT", "tls.crt"), ("SEALGATE_TLS_KEY", "tls.key")):
        want = f"{mounts['tls']}/{key}"
        (ok if env[var]["value"] == want else fail)(f"{var} is {want}")
        (ok if key in objs.get(("Secret", tls_secret), {}).get("stringData", {}) else fail)(f"Secret {tls_secret} has {key}")
    for e in c["env"]:
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            secret = objs.get(("Secret", ref["name"]), {})
            (ok if ref["key"] in secret.get("stringData", {}) else fail)(f"Secret {ref['name']} has key {ref['key']} ({e['name']})")
    # The objects around the Deployment select its pods and name its ports.
    svc = objs[("Service", "sealgate")]
    (ok if selects(svc["spec"]["selector"], pod_labels) else fail)("Service selects the gateway pods")
    for p in svc["spec"]["ports"]:
        (ok if p["targetPort"] in ports else fail)(f"Service targetPort {p['targetPort']} is a container port")
    pdb = objs[("PodDisruptionBudget", "sealgate")]
    (ok if selects(pdb["spec"]["selector"]["matchLabels"], pod_labels) else fail)("PodDisruptionBudget selects the gateway pods")
    hpa = objs[("HorizontalPodAutoscaler", "sealgate")]
    ref = hpa["spec"]["scaleTargetRef"]
    (ok if (ref["kind"], ref["name"]) == ("Deployment", "sealgate") else fail)("HPA scales the Deployment")
    (ok if hpa["spec"]["minReplicas"] >= 2 else fail)("HPA keeps at least two replicas")
    np = objs[("NetworkPolicy", "sealgate")]
    (ok if selects(np["spec"]["podSelector"]["matchLabels"], pod_labels) else fail)("NetworkPolicy selects the gateway pods")
    for rule in np["spec"]["ingress"]:
        for p in rule["ports"]:
            (ok if p["port"] in ports else fail)(f"NetworkPolicy ingress port {p['port']} is a container port")
    # The development Redis is reachable under the gateway's egress rule and lets it in.
    redis = objs[("Deployment", "sealgate-redis-dev")]
    redis_labels = redis["spec"]["template"]["metadata"]["labels"]
    ns_labels = next(o for (kind, _), o in objs.items() if kind == "Namespace")["metadata"]["labels"]
    egress_to = [
        peer["podSelector"]["matchLabels"]
        for rule in np["spec"]["egress"]
        for peer in rule.get("to", [])
        if "podSelector" in peer and selects(peer.get("namespaceSelector", {}).get("matchLabels", {}), ns_labels)
    ]
    (ok if any(selects(s, redis_labels) for s in egress_to) else fail)("gateway egress policy reaches the dev Redis pods")
    rnp = objs[("NetworkPolicy", "sealgate-redis-dev")]
    froms = [peer["podSelector"]["matchLabels"] for rule in rnp["spec"]["ingress"] for peer in rule["from"]]
    (ok if any(selects(s, pod_labels) for s in froms) else fail)("dev Redis policy admits the gateway pods")
    redis_args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    (ok if "--appendonly" in redis_args and redis_args[redis_args.index("--appendonly") + 1] == "yes" else fail)("dev Redis has AOF on")
    # Namespaces: every object is in the namespace the manifest creates.
    ns = [name for (kind, name) in objs if kind == "Namespace"]
    for (kind, name), obj in objs.items():
        if kind != "Namespace" and obj["metadata"].get("namespace") not in ns:
            fail(f"{kind}/{name} is not in namespace {ns}")
    ok(f"every object is in namespace {ns}")
    return finish()


def cmd_configmap_toml(args: list[str]) -> int:
    """Writes the ConfigMap's sealgate.toml to a file (the live gateway then loads it)."""
    (out,) = args
    Path(out).write_text(k8s_objects()[("ConfigMap", "sealgate-config")]["data"]["sealgate.toml"])
    return 0


# --- Compose ------------------------------------------------------------------------------


def cmd_compose(args: list[str]) -> int:
    (path,) = args
    compose_file = Path(path).resolve()
    base = compose_file.parent
    doc = yaml.safe_load(compose_file.read_text())  # PyYAML resolves the << merges
    services = doc["services"]
    gateways = [n for n, s in services.items() if s.get("build", {}).get("dockerfile") == "deploy/Dockerfile"]
    (ok if len(gateways) >= 2 else fail)(f"{len(gateways)} gateway services built from deploy/Dockerfile: {gateways}")
    (ok if (base / services[gateways[0]]["build"]["context"] / "deploy/Dockerfile").is_file() else fail)("build context holds deploy/Dockerfile")
    redis = services.get("redis", {})
    cmd = redis.get("command", [])
    (ok if "--appendonly" in cmd and cmd[cmd.index("--appendonly") + 1] == "yes" else fail)("redis runs with appendonly yes")
    (ok if "noeviction" in cmd else fail)("redis refuses to evict (maxmemory-policy noeviction)")
    (ok if not redis.get("ports") else fail)("redis publishes no port")
    published = []
    for name in gateways:
        env = services[name]["environment"]
        store = env.get("SEALGATE_STORE", "")
        (ok if store.startswith("redis://redis:") else fail)(f"{name} uses the redis service ({store})")
        (ok if env.get("SEALGATE_TLS_CERT") and env.get("SEALGATE_TLS_KEY") else fail)(f"{name} serves TLS")
        metrics_port = env["SEALGATE_METRICS_LISTEN"].rsplit(":", 1)[1]
        api_port = env["SEALGATE_LISTEN"].rsplit(":", 1)[1]
        for p in services[name].get("ports", []):
            host, container = p.rsplit(":", 1)[0], p.rsplit(":", 1)[1]
            (ok if container == api_port else fail)(f"{name} publishes its API port ({p}), not metrics {metrics_port}")
            published.append(host)
        (ok if services[name].get("read_only") and services[name].get("cap_drop") == ["ALL"] else fail)(f"{name} read-only with no capabilities")
        (ok if "SEALGATE_PUBLIC_URL" in env else fail)(f"{name} sets its public URL")
    (ok if len(set(published)) == len(gateways) else fail)(f"each gateway instance has its own published port: {published}")
    for name in ("prometheus", "grafana", "alertmanager"):
        (ok if name in services else fail)(f"service {name} exists")
    for name in ("prometheus", "grafana", "alertmanager"):
        for p in services.get(name, {}).get("ports", []):
            (ok if str(p).startswith("127.0.0.1:") else fail)(f"{name} published on loopback only ({p})")
    # Every bind mount source exists, as a file or a folder as the target expects.
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith((".", "/")):
                (ok if (base / src).exists() else fail)(f"{name}: mount source {src} exists")
    for name, secret in doc.get("secrets", {}).items():
        src = base / secret["file"]
        (ok if src.parent == base / "tls" and (base / "tls/make-dev-cert.sh").is_file() else fail)(f"secret {name} comes from tls/, made by tls/make-dev-cert.sh")
    # Prometheus scrapes the gateway services on their metrics port, and Grafana's
    # provisioning points at the services and mounts compose gives it.
    prom = yaml.safe_load((base / "prometheus/prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "sealgate")
    targets = sorted(t for sc in job["static_configs"] for t in sc["targets"])
    want = sorted(f"{n}:{services[n]['environment']['SEALGATE_METRICS_LISTEN'].rsplit(':', 1)[1]}" for n in gateways)
    (ok if targets == want else fail)(f"prometheus.yml scrapes {targets} (compose: {want})")
    am = prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
    (ok if am.split(":")[0] in services else fail)(f"prometheus.yml alerts to {am}")
    ds = yaml.safe_load((base / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    (ok if urllib.parse.urlparse(ds["url"]).hostname in services else fail)(f"Grafana data source {ds['url']} is a compose service")
    prov = yaml.safe_load((base / "grafana/provisioning/dashboards/sealgate.yml").read_text())["providers"][0]
    gmounts = {v.split(":")[1]: v.split(":")[0] for v in services["grafana"]["volumes"] if v.startswith(".")}
    dash_src = gmounts.get(prov["options"]["path"])
    (ok if dash_src and list((base / dash_src).glob("*.json")) else fail)(f"Grafana provider path {prov['options']['path']} is mounted from {dash_src}")
    (ok if doc["networks"].get("backend", {}).get("internal") else fail)("Redis network is internal")
    return finish()


# --- Dashboards and metric names -------------------------------------------------------------


def panels_of(dashboard: dict):
    """(panel, row title) for every panel, rows' nested panels included."""
    row = None
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
            for nested in panel.get("panels", []):
                yield nested, row
        else:
            yield panel, row


def cmd_dashboard(args: list[str]) -> int:
    for path in args:
        d = json.loads(Path(path).read_text())
        print(f"{path}: {d['title']} (uid {d['uid']})")
        variables = {v["name"]: v for v in d["templating"]["list"]}
        dsvar = variables.get("datasource", {})
        (ok if dsvar.get("type") == "datasource" and dsvar.get("query") == "prometheus" else fail)("a Prometheus data source variable")
        ids = set()
        for panel, row in panels_of(d):
            title = panel.get("title")
            if panel["id"] in ids:
                fail(f"panel id {panel['id']} repeats")
            ids.add(panel["id"])
            if panel.get("datasource", {}).get("uid") != "${datasource}":
                fail(f"panel {title!r} does not use the ${{datasource}} variable")
            for t in panel.get("targets", []):
                if t.get("datasource", {}).get("uid") != "${datasource}":
                    fail(f"panel {title!r} target {t['refId']} does not use the ${{datasource}} variable")
                if not t.get("expr"):
                    fail(f"panel {title!r} target {t['refId']} has no expr")
                webhook = WEBHOOK_PREFIX in t.get("expr", "")
                if webhook != (row == "Webhooks"):
                    fail(f"panel {title!r}: webhook metrics belong in the Webhooks row, and only there")
        for v in variables.values():
            if v["type"] == "query" and v.get("datasource", {}).get("uid") != "${datasource}":
                fail(f"variable {v['name']} does not use the ${{datasource}} variable")
        # No UID other than the variable anywhere (a hard-coded data source breaks import).
        uids = set(re.findall(r'"uid":\s*"([^"]*)"', Path(path).read_text())) - {"${datasource}", d["uid"], "-- Grafana --"}
        (ok if not uids else fail)(f"no hard-coded data source UID {sorted(uids) if uids else ''}".strip())
        webhook_row = [p for p in d["panels"] if p["type"] == "row" and p["title"] == "Webhooks"]
        (ok if webhook_row else fail)("a Webhooks row")
        ok(f"{len(ids)} panels, ids unique, every target on ${{datasource}}")
    return finish()


def exprs_of_rules(path: Path):
    for group in yaml.safe_load(path.read_text())["groups"]:
        for rule in group["rules"]:
            yield rule.get("alert") or rule.get("record"), rule["expr"]


def exprs_of_dashboard(path: Path):
    d = json.loads(path.read_text())
    for panel, _ in panels_of(d):
        for t in panel.get("targets", []):
            yield f"{panel['title']} / {t['refId']}", t["expr"]
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            yield f"variable {v['name']}", v["query"]["query"] if isinstance(v["query"], dict) else v["query"]


def named_metrics(rule_files: list[Path], dashboards: list[Path]) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for path in rule_files:
        for _, expr in exprs_of_rules(path):
            for name in METRIC_RE.findall(expr):
                names.setdefault(name, set()).add(path.name)
    for path in dashboards:
        for _, expr in exprs_of_dashboard(path):
            for name in METRIC_RE.findall(expr):
                names.setdefault(name, set()).add(path.name)
    return names


def exposition(paths: list[str]) -> tuple[set[str], dict[str, str]]:
    """Sample names and TYPE lines of Prometheus text expositions."""
    samples, types = set(), {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(maxsplit=3)
                types[name] = kind
            elif line and not line.startswith("#"):
                samples.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return samples, types


def cmd_presence(args: list[str]) -> int:
    """Every sealgate_ metric the rules and dashboards name appears in the given /metrics
    captures. Webhook names are checked only once the gateway exports any webhook metric."""
    rule_files = sorted((DEPLOY / "prometheus/rules").glob("*.yml"))
    dashboards = sorted((DEPLOY / "grafana/dashboards").glob("*.json"))
    names = named_metrics(rule_files, dashboards)
    samples, types = exposition(args)

    def present(name: str) -> bool:
        if name in samples or name in types:
            return True
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
                return True
        return False

    webhooks_live = any(n.startswith(WEBHOOK_PREFIX) for n in samples | set(types))
    pending = []
    for name in sorted(names):
        where = ", ".join(sorted(names[name]))
        if name.startswith(WEBHOOK_PREFIX) and not webhooks_live:
            pending.append(name)
            continue
        if present(name):
            ok(f"{name} ({where})")
        else:
            hint = " (drive the traffic that makes it appear in validate.sh's drive_traffic)" if name.startswith(WEBHOOK_PREFIX) else ""
            fail(f"{name}, named in {where}, is not in the gateway's /metrics{hint}")
    # Webhook names stay in rules/webhooks.yml (and, in dashboards, in the Webhooks row:
    # the dashboard command checks that), so that they can be checked apart.
    for name in sorted(names):
        if name.startswith(WEBHOOK_PREFIX) and names[name] - {"webhooks.yml"} - {p.name for p in dashboards}:
            fail(f"{name} is used in a rule file other than rules/webhooks.yml")
        elif not name.startswith(WEBHOOK_PREFIX) and "webhooks.yml" in names[name]:
            fail(f"{name} is not a webhook metric but is used in rules/webhooks.yml")
    checked = len(names) - len(pending)
    print(f"  {checked} metric names checked against /metrics")
    if pending:
        print(f"  pending: {len(pending)} webhook metric names, not checked because the gateway exports no "
              f"{WEBHOOK_PREFIX} metric yet: {', '.join(pending)}")
    return finish()


# --- Prometheus, live --------------------------------------------------------------------------


def cmd_prom_kubernetes_config(args: list[str]) -> int:
    """prometheus-kubernetes.yml with kubernetes_sd_configs replaced by a file_sd_configs of
    targets that carry the labels Kubernetes discovery would set (Debian's Prometheus is
    built without Kubernetes discovery). Everything else (relabelling, rule files) is the
    file's own, so promtool and a live Prometheus check it.
    Args: OUT_CONFIG OUT_TARGETS RULES_DIR TARGET_LIST(comma-separated host:port) [INTERVAL]"""
    out_config, out_targets, rules_dir, target_list, *rest = args
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus-kubernetes.yml").read_text())
    if rest:
        config["global"]["scrape_interval"] = rest[0]
        config["global"]["evaluation_interval"] = rest[0]
    config["rule_files"] = [str(Path(rules_dir).resolve() / "*.yml")]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "sealgate")
    namespace = job["kubernetes_sd_configs"][0]["namespaces"]["names"][0]
    del job["kubernetes_sd_configs"]
    job["file_sd_configs"] = [{"files": [str(Path(out_targets).resolve())], "refresh_interval": "1s"}]
    groups = []
    for i, target in enumerate(target_list.split(",")):
        labels = {
            "__meta_kubernetes_namespace": namespace,
            "__meta_kubernetes_pod_name": f"sealgate-validate-{i}",
            "__meta_kubernetes_pod_label_app_kubernetes_io_name": "sealgate",
            "__meta_kubernetes_pod_label_app_kubernetes_io_component": "gateway",
            "__meta_kubernetes_pod_container_port_name": "metrics",
        }
        groups.append({"targets": [target], "labels": labels})
        # The same pod's API port, and a pod of another app: the relabelling must drop both.
        groups.append({"targets": [f"127.0.0.1:{1 + i}"], "labels": {**labels, "__meta_kubernetes_pod_container_port_name": "https"}})
        groups.append({"targets": [f"127.0.0.1:{11 + i}"], "labels": {**labels, "__meta_kubernetes_pod_label_app_kubernetes_io_name": "other"}})
    Path(out_targets).write_text(json.dumps(groups, indent=1))
    Path(out_config).write_text(yaml.safe_dump(config, sort_keys=False))
    return 0


def prom_get(base: str, path: str, **params) -> dict:
    url = f"{base}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def cmd_prom_wait(args: list[str]) -> int:
    """Polls QUERY until it returns at least N series: a scraped gateway metric, through
    Prometheus' HTTP API. Args: BASE_URL QUERY N TIMEOUT_SECONDS"""
    base, query, want, timeout = args[0], args[1], int(args[2]), float(args[3])
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = prom_get(base, "/api/v1/query", query=query)
            result = last["data"]["result"]
            if last["status"] == "success" and len(result) >= want:
                for series in result:
                    ok(f"{query}: {series['metric']} = {series['value'][1]}")
                return 0
        except OSError as error:
            last = str(error)
        time.sleep(0.5)
    fail(f"{query} did not return {want} series within {timeout:.0f}s; last answer: {last}")
    return finish()


def cmd_prom_targets(args: list[str]) -> int:
    """The relabelling of prometheus-kubernetes.yml kept exactly the gateways' metrics ports,
    named by pod. Args: BASE_URL N"""
    base, want = args[0], int(args[1])
    active = prom_get(base, "/api/v1/targets")["data"]["activeTargets"]
    dropped = prom_get(base, "/api/v1/targets", state="dropped")["data"]["droppedTargets"]
    sealgate = [t for t in active if t["labels"].get("job") == "sealgate"]
    instances = sorted(t["labels"]["instance"] for t in sealgate)
    (ok if len(sealgate) == want else fail)(f"{len(sealgate)} sealgate targets kept: {instances}")
    (ok if all(i.startswith("sealgate-validate-") for i in instances) else fail)("instance label is the pod name")
    (ok if all(t["health"] == "up" for t in sealgate) else fail)(f"targets up: {[t['health'] for t in sealgate]}")
    (ok if all(t["labels"].get("namespace") for t in sealgate) else fail)("namespace label set")
    (ok if len(dropped) >= 2 * want else fail)(f"{len(dropped)} other ports and pods dropped by the relabelling")
    return finish()


def cmd_prom_rules(args: list[str]) -> int:
    """The live Prometheus loaded every rule of rules/*.yml and evaluates each without error.
    Args: BASE_URL TIMEOUT_SECONDS"""
    base, timeout = args[0], float(args[1])
    expected = {name for path in (DEPLOY / "prometheus/rules").glob("*.yml") for name, _ in exprs_of_rules(path)}
    deadline = time.monotonic() + timeout
    while True:
        groups = prom_get(base, "/api/v1/rules")["data"]["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        # A rule not evaluated yet has the zero time, 0001-01-01T00:00:00Z.
        evaluated = all(not r.get("lastEvaluation", "0001").startswith("0001") for r in rules.values())
        if (set(rules) >= expected and evaluated) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for name in sorted(expected):
        rule = rules.get(name)
        if rule is None:
            fail(f"rule {name} not loaded")
        elif rule["health"] != "ok":
            fail(f"rule {name}: health {rule['health']} {rule.get('lastError', '')}")
        else:
            ok(f"rule {name} evaluates (state {rule.get('state', '-')})")
    return finish()


def cmd_prom_queries(args: list[str]) -> int:
    """Every dashboard query (Grafana variables replaced) runs on the live Prometheus.
    Args: BASE_URL DASHBOARD..."""
    base, dashboards = args[0], args[1:]
    with_data = total = 0
    for path in dashboards:
        for where, expr in exprs_of_dashboard(Path(path)):
            if expr.startswith("label_values("):
                m = re.match(r"label_values\((.*),\s*(\w+)\)$", expr)
                selector, label = m.group(1), m.group(2)
                for var, value in GRAFANA_VARS.items():
                    selector = selector.replace(var, value)
                answer = prom_get(base, f"/api/v1/label/{label}/values", **{"match[]": selector})
                values = answer.get("data", [])
            else:
                query = expr
                for var, value in GRAFANA_VARS.items():
                    query = query.replace(var, value)
                try:
                    answer = prom_get(base, "/api/v1/query", query=query)
                except urllib.error.HTTPError as error:
                    answer = json.load(error)
                values = answer.get("data", {}).get("result", [])
            total += 1
            if answer.get("status") != "success":
                fail(f"{where}: {answer.get('error')}")
                continue
            with_data += bool(values)
    print(f"  {total} dashboard queries ran; {with_data} returned data now (the others need events this run does not produce)")
    return finish()


# Which check of validate.sh covers which file of deploy/. A new file that matches none fails
# the coverage check, so that nothing lands in deploy/ without a validator.
COVERAGE = {
    "Dockerfile": "hadolint; dockerfile-copies",
    "healthcheck/Cargo.toml": "cargo clippy, cargo test",
    "healthcheck/Cargo.lock": "cargo --locked",
    "healthcheck/src/*.rs": "cargo fmt, clippy, test; run against a live gateway",
    "compose.yaml": "docker-compose config; compose",
    "tls/make-dev-cert.sh": "shellcheck; run, its certificate served by the live gateways",
    "tls/.gitignore": "git check-ignore",
    "kubernetes/*.yaml": "kubernetes-validate --strict; k8s",
    "kubernetes/*/*.yaml": "kubernetes-validate --strict; k8s",
    "prometheus/prometheus.yml": "promtool check config; compose",
    "prometheus/prometheus-kubernetes.yml": "promtool check config; live Prometheus",
    "prometheus/rules/*.yml": "promtool check rules; live Prometheus; presence; runbooks",
    "prometheus/tests/*.yml": "promtool test rules",
    "alertmanager/alertmanager.yml": "amtool check-config; amtool config routes test",
    "grafana/dashboards/*.json": "dashboard; prom-queries; presence",
    "grafana/provisioning/*/*.yml": "compose (YAML parse, paths and services)",
    "validate.sh": "shellcheck; running it",
    "validate.py": "py_compile; running it",
    "requirements.txt": "pip install -r",
}


def cmd_coverage(_: list[str]) -> int:
    """Every file in deploy/ (tracked or not, git-ignored ones aside) has a validator."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "deploy"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split()
    for rel in sorted(set(listed)):
        path = Path(rel).relative_to("deploy")
        if not (ROOT / rel).exists():
            continue
        match = next((v for pattern, v in COVERAGE.items() if path.match(pattern) and len(path.parts) == len(Path(pattern).parts)), None)
        if match:
            ok(f"{path}: {match}")
        else:
            fail(f"{path}: no validator; add one to validate.sh and to COVERAGE in validate.py")
    return finish()


def cmd_runbooks(_: list[str]) -> int:
    """Every alert has a runbook_url annotation that points at a heading of docs/deploy.md."""
    doc = (ROOT / "docs/deploy.md").read_text()
    # GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
    anchors = {
        re.sub(r"[^a-z0-9 _-]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in doc.splitlines()
        if line.startswith("#")
    }
    for path in sorted((DEPLOY / "prometheus/rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                runbook = rule.get("annotations", {}).get("runbook_url", "")
                page, _, anchor = runbook.partition("#")
                if page == "docs/deploy.md" and anchor in anchors:
                    ok(f"{rule['alert']}: {runbook}")
                else:
                    fail(f"{rule['alert']}: runbook_url {runbook!r} is not a heading of docs/deploy.md")
    return finish()


COMMANDS = {
    "dockerfile-copies": lambda a: cmd_dockerfile_copies(*a),
    "k8s": cmd_k8s,
    "configmap-toml": cmd_configmap_toml,
    "compose": cmd_compose,
    "dashboard": cmd_dashboard,
    "presence": cmd_presence,
    "prom-kubernetes-config": cmd_prom_kubernetes_config,
    "prom-wait": cmd_prom_wait,
    "prom-targets": cmd_prom_targets,
    "prom-rules": cmd_prom_rules,
    "prom-queries": cmd_prom_queries,
    "runbooks": cmd_runbooks,
    "coverage": cmd_coverage,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(COMMANDS)}}} ARGS...")
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
