"""The deployment files under deploy/ parse and agree with each other and with the code.

No docker or kubectl needed: these are the checks that catch the usual drift. Every YAML and JSON
file parses; every metric a Grafana panel queries exists in ``services/metrics.py`` or
``coordinator/runtime/metrics.py`` with the labels the panel uses; the Kubernetes operators have
native gRPC liveness and readiness probes on their plaintext health port; ports agree across
compose, Kubernetes and Prometheus; every ``ptn`` command line uses only the runtime's documented
options; operators reachable beyond localhost serve mutual TLS with their own certificate, keep
their state on a volume of their own, and the coordinator presents its certificate. Each game
(the default ADMM scenario, the pricing game with its CNOs, the profit sharing with the TNO) has
a coordinator with an endpoint for every operator its scenario has, as the code reads the
scenario, each served by a service of that role and id on the role's ports. The Ray cluster
config pins the installed Ray, and its start commands (run in bash with stubs) give the nodes
the custom resources deploy/ray/placement.toml pins the operators to.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from ptn.coordinator.mechanisms.registry import MECHANISMS
from ptn.coordinator.runtime.metrics import CoordinatorMetrics
from ptn.scenario.document import load_scenario
from ptn.services.metrics import OperatorMetrics
from tests.support import REPOSITORY, load_development_tool
from tests.support.ray_cluster_config import node_resources, other_worker_resources

DEPLOY = REPOSITORY / "deploy"
K8S = DEPLOY / "k8s"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "ptn.json"

#: the suggested ports of the runtime: role -> (gRPC port, metrics port)
OPERATOR_PORTS = {"dso": (50051, 9101), "traffic": (50052, 9102), "tno": (50053, 9103),
                  "cno": (50054, 9104)}
#: the plaintext health port of each operator serving TLS
HEALTH_PORTS = {"dso": 50061, "traffic": 50062, "tno": 50063, "cno": 50064}
#: the games compose and Kubernetes run: coordinator service -> its scenario, and the compose
#: profile it starts with (None: the default services)
GAMES = {"coordinator": ("nguyen-dupuis-ieee33", None),
         "pricing-coordinator": ("pricing-seed001", "pricing"),
         "sharing-coordinator": ("profit-sharing-nguyen-dupuis", "profit-sharing")}
#: where the deployments keep an operator's private report and state, and its certificates
STATE_PATH = "/var/lib/ptn"
COORDINATOR_METRICS_PORT = 9100
HEALTH_SERVICES = {
    "dso": "negotiation.v1.DsoOperator",
    "traffic": "negotiation.v1.TrafficDepartment",
    "tno": "negotiation.v1.TnoOperator",
    "cno": "negotiation.v1.CnoOperator",
}

# The command-line contract of the runtime: options taking a value, per command.
COMMAND_OPTIONS = {
    "serve": {"--scenario", "--port", "--host", "--metrics-port", "--tls-dir", "--operator-id",
              "--health-port", "--private-out", "--state-dir", "--token-file", "--trust",
              "--max-concurrent"},
    "coordinate": {"--scenario", "--endpoint", "--out", "--metrics-port", "--tls-dir", "--resume",
                   "--token-dir"},
    "run": {"--backend", "--out", "--metrics-port", "--ray-address"},
    "certs": {"--scenario", "--operator", "--days"},
    # ptn sweep CAMPAIGN.toml (ptn.campaign)
    "sweep": {"--out", "--concurrency", "--ray-address", "--metrics-port", "--placement",
              "--backend"},
}
REQUIRED_OPTIONS = {
    "serve": {"--scenario", "--port"},
    "coordinate": {"--scenario", "--endpoint"},
    "run": set(),
    "certs": set(),
    "sweep": set(),
}
REPEATABLE_OPTIONS = {"--endpoint", "--operator"}
#: options taking no value
FLAG_OPTIONS = {"certs": {"--force", "--reuse-ca"}, "sweep": {"--force"}}
BACKENDS = {"inproc", "ray", "grpc"}


# ---------------------------------------------------------------------------------------------
# loading


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"})


def load_yaml(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as stream:
        return [document for document in yaml.safe_load_all(stream) if document is not None]


def compose() -> dict[str, Any]:
    (document,) = load_yaml(DEPLOY / "compose.yaml")
    assert isinstance(document, dict)
    return document


def k8s_folders() -> list[Path]:
    """deploy/k8s (the default game) and each game's folder, every one a kustomization."""
    return [K8S, *sorted(p.parent for p in K8S.glob("*/kustomization.yaml"))]


def k8s_objects() -> list[dict[str, Any]]:
    objects = []
    for folder in k8s_folders():
        for path in sorted(folder.glob("*.yaml")):
            if path.name != "kustomization.yaml":
                objects.extend(load_yaml(path))
    return objects


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in k8s_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


# ---------------------------------------------------------------------------------------------
# the ptn command lines


@dataclass
class Invocation:
    """A ``ptn`` command line split by the contract: command, positionals, options."""

    where: str
    command: str
    positionals: list[str] = field(default_factory=list)
    options: dict[str, list[str]] = field(default_factory=dict)

    def option(self, name: str) -> str:
        values = self.options.get(name, [])
        assert len(values) == 1, f"{self.where}: expected one {name}, found {values}"
        return values[0]

    def int_option(self, name: str) -> int:
        return int(self.option(name))


def parse_ptn(arguments: list[str], where: str) -> Invocation:
    """Check ``ptn`` arguments (after the program name) against the contract and split them."""
    assert arguments and arguments[0] in COMMAND_OPTIONS, (
        f"{where}: unknown ptn command in {arguments}"
    )
    invocation = Invocation(where=where, command=arguments[0])
    allowed = COMMAND_OPTIONS[invocation.command]
    tokens = iter(arguments[1:])
    for token in tokens:
        if not token.startswith("-"):
            invocation.positionals.append(token)
            continue
        name, equals, value = token.partition("=")
        if name in FLAG_OPTIONS.get(invocation.command, set()) and not equals:
            invocation.options.setdefault(name, []).append("true")
            continue
        assert name in allowed, f"{where}: ptn {invocation.command} has no option {name}"
        if not equals:
            value = next(tokens, "")
        assert value and not value.startswith("--"), f"{where}: {name} needs a value"
        invocation.options.setdefault(name, []).append(value)
    for name, values in invocation.options.items():
        assert len(values) == 1 or name in REPEATABLE_OPTIONS, f"{where}: {name} given twice"
    missing = REQUIRED_OPTIONS[invocation.command] - set(invocation.options)
    assert not missing, f"{where}: ptn {invocation.command} lacks {sorted(missing)}"
    if invocation.command == "serve":
        assert len(invocation.positionals) == 1, f"{where}: ptn serve takes one ROLE"
        assert invocation.positionals[0] in HEALTH_SERVICES, f"{where}: unknown role"
    elif invocation.command == "coordinate":
        assert not invocation.positionals, f"{where}: ptn coordinate takes no positionals"
        for endpoint in invocation.options["--endpoint"]:
            assert re.fullmatch(r"[\w-]+=[\w.-]+:\d+", endpoint), (
                f"{where}: endpoint {endpoint!r} is not ID=HOST:PORT"
            )
    elif invocation.command == "certs":
        assert len(invocation.positionals) == 1, f"{where}: ptn certs takes one DIRECTORY"
        assert "--scenario" in invocation.options or "--operator" in invocation.options, where
    elif invocation.command == "sweep":
        assert len(invocation.positionals) == 1, f"{where}: ptn sweep takes one CAMPAIGN"
        assert invocation.options.get("--backend", ["ray"])[0] in BACKENDS
    else:
        assert len(invocation.positionals) <= 1, f"{where}: ptn run takes at most one SCENARIO"
        assert invocation.options.get("--backend", ["ray"])[0] in BACKENDS
    for name in ("--port", "--metrics-port", "--health-port"):
        if name in invocation.options:
            assert invocation.option(name).isdigit(), f"{where}: {name} is not a port number"
    return invocation


def is_ptn_image(image: str) -> bool:
    return image.split("/")[-1].split(":")[0] == "ptn"


def compose_invocations() -> dict[str, Invocation]:
    invocations = {}
    for name, service in compose()["services"].items():
        if not is_ptn_image(service.get("image", "")):
            continue
        command = service["command"]
        arguments = shlex.split(command) if isinstance(command, str) else command
        assert all(isinstance(a, str) for a in arguments), f"compose {name}: quote numbers"
        invocations[name] = parse_ptn(arguments, f"compose service {name}")
    return invocations


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def k8s_invocations() -> dict[str, Invocation]:
    """The ptn containers of the Deployments and Jobs, by object name (the image's entrypoint)."""
    invocations = {}
    for obj in k8s_objects():
        if obj["kind"] not in {"Deployment", "Job"}:
            continue
        for container in pod_spec(obj)["containers"]:
            if is_ptn_image(container["image"]) and "command" not in container:
                where = f"k8s {obj['kind']} {obj['metadata']['name']}"
                assert all(isinstance(a, str) for a in container["args"]), f"{where}: quote"
                invocations[obj["metadata"]["name"]] = parse_ptn(container["args"], where)
    return invocations


def readme_invocations() -> list[Invocation]:
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    invocations = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.strip().removesuffix("&").strip()
            if line.startswith("ptn "):
                invocations.append(parse_ptn(shlex.split(line)[1:], f"README: {line}"))
            for quoted in re.findall(r'"(ptn [^"]*)"', line):
                invocations.append(parse_ptn(shlex.split(quoted)[1:], f"README: {quoted}"))
    return invocations


def operator_id(invocation: Invocation) -> str:
    """The operator a ``ptn serve`` runs: ``--operator-id``, else its role."""
    return invocation.options.get("--operator-id", invocation.positionals)[0]


def operator_services(invocations: dict[str, Invocation]) -> dict[str, Invocation]:
    return {name: i for name, i in invocations.items() if i.command == "serve"}


def game_endpoints(coordinator: Invocation) -> dict[str, tuple[str, int]]:
    """operator id -> (host, port) of a ``ptn coordinate``."""
    endpoints = {}
    for endpoint in coordinator.options["--endpoint"]:
        operator, _, address = endpoint.partition("=")
        host, _, port = address.rpartition(":")
        endpoints[operator] = (host, int(port))
    return endpoints


def check_game(invocations: dict[str, Invocation], coordinator_name: str) -> dict[str, str]:
    """A coordinator has an endpoint for every operator of its scenario (as the code reads it),
    each a service serving that operator's role and id on the role's port with the same
    scenario; the services by operator id."""
    coordinator = invocations[coordinator_name]
    scenario_name, _ = GAMES[coordinator_name]
    assert coordinator.option("--scenario") == scenario_name
    scenario = load_scenario(scenario_name)
    endpoints = game_endpoints(coordinator)
    assert set(endpoints) == set(scenario.operator_ids), coordinator.where
    services = {}
    for operator, (host, port) in endpoints.items():
        serve = invocations[host]
        role = scenario.part(operator).role
        assert serve.positionals == [role], f"{serve.where} is not {operator}'s role {role}"
        assert operator_id(serve) == operator, serve.where
        assert serve.option("--scenario") == scenario_name, serve.where
        assert port == serve.int_option("--port") == OPERATOR_PORTS[role][0], serve.where
        assert serve.int_option("--metrics-port") == OPERATOR_PORTS[role][1], serve.where
        assert serve.int_option("--health-port") == HEALTH_PORTS[role], serve.where
        assert serve.option("--host") == "0.0.0.0", f"{serve.where} must listen beyond localhost"
        services[operator] = host
    return services


# ---------------------------------------------------------------------------------------------
# metrics of the code


@dataclass(frozen=True)
class Family:
    labels: frozenset[str]
    kind: str


def metric_families() -> dict[str, Family]:
    """Every sample name the two registries expose, with its labels (histograms add ``le``)."""
    families: dict[str, Family] = {}
    gauges = [gauge for plugin in MECHANISMS.values() for gauge in plugin.round_gauges]
    coordinator = CoordinatorMetrics.create(round_gauges=gauges)
    for metrics in (OperatorMetrics.create(), coordinator):
        wrappers = [*vars(metrics).values(), *getattr(metrics, "round_gauge_families", {}).values()]
        for value in wrappers:
            if not isinstance(value, MetricWrapperBase):
                continue
            (described,) = value.describe()
            labels = frozenset(value._labelnames)  # no public accessor in prometheus_client
            if described.type == "counter":
                families[described.name + "_total"] = Family(labels, "counter")
            elif described.type == "histogram":
                families[described.name + "_bucket"] = Family(labels | {"le"}, "histogram")
                families[described.name + "_sum"] = Family(labels, "histogram")
                families[described.name + "_count"] = Family(labels, "histogram")
            else:
                families[described.name] = Family(labels, described.type)
    return families


def panel_targets() -> list[tuple[str, dict[str, Any]]]:
    targets = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            targets.append((panel["title"], target))
    return targets


# ---------------------------------------------------------------------------------------------
# every file parses


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_file_parses(path: Path) -> None:
    assert load_yaml(path), f"{path} holds no document"


@pytest.mark.parametrize(
    "path", sorted(DEPLOY.rglob("*.json")), ids=lambda p: str(p.relative_to(DEPLOY))
)
def test_json_file_parses(path: Path) -> None:
    assert json.loads(path.read_text(encoding="utf-8"))


def test_there_are_files_to_check() -> None:
    names = {str(p.relative_to(DEPLOY)) for p in yaml_files()}
    assert {"compose.yaml", "prometheus/prometheus.yml", "ray/cluster.yaml",
            "k8s/kustomization.yaml"} <= names
    assert DASHBOARD.is_file()


# ---------------------------------------------------------------------------------------------
# Grafana


def test_every_panel_metric_exists_in_the_code() -> None:
    families = metric_families()
    for title, target in panel_targets():
        names = re.findall(r"\bptn_[a-z0-9_]+\b", target["expr"])
        assert names, f"panel {title!r}: no ptn metric in {target['expr']!r}"
        for name in names:
            assert name in families, f"panel {title!r}: {name} is not exposed by the code"


def test_every_panel_label_belongs_to_its_metrics() -> None:
    families = metric_families()
    for title, target in panel_targets():
        expr = target["expr"]
        known = set().union(*(families[n].labels for n in re.findall(r"\bptn_[a-z0-9_]+\b", expr)))
        used = set()
        for grouping in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            used |= {label.strip() for label in grouping.split(",") if label.strip()}
        used |= set(re.findall(r"([a-z_]+)\s*=~?", "".join(re.findall(r"\{([^}]*)\}", expr))))
        used |= set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
        assert used <= known, f"panel {title!r}: labels {sorted(used - known)} do not exist"


def test_quantiles_are_over_bucket_rates_by_le() -> None:
    quantiles = [(t, x["expr"]) for t, x in panel_targets() if "histogram_quantile" in x["expr"]]
    assert quantiles
    for title, expr in quantiles:
        assert re.search(r"rate\(ptn_\w+_bucket\[", expr), f"panel {title!r}: {expr}"
        assert re.search(r"by \([^)]*\ble\b", expr), f"panel {title!r}: no le grouping"


def test_dashboard_has_the_panels_asked_for() -> None:
    exprs = " ".join(target["expr"] for _, target in panel_targets())
    for name in ("ptn_negotiation_round", "ptn_negotiation_primal_residual",
                 "ptn_negotiation_dual_residual", "ptn_negotiation_penalty_per_mw2h",
                 "ptn_negotiation_price_per_mwh", "ptn_negotiation_station_load_mw",
                 "ptn_coordinator_call_duration_seconds_bucket", "ptn_operator_requests_total",
                 "ptn_coordinator_call_failures_total", "ptn_coordinator_call_retries_total",
                 "ptn_coordinator_calls_in_progress"):
        assert name in exprs, f"no panel shows {name}"
    residuals = [p for p in dashboard()["panels"] if "residual" in json.dumps(p.get("targets"))]
    for panel in residuals:
        scale = panel["fieldConfig"]["defaults"]["custom"]["scaleDistribution"]
        assert scale["type"] == "log", f"panel {panel['title']!r} is not on a log scale"


def test_dashboard_structure() -> None:
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_grafana_provisioning_matches_compose() -> None:
    services = compose()["services"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in services["grafana"]["volumes"]}
    (providers,) = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "ptn.yaml")
    (provider,) = providers["providers"]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    (sources,) = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml")
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus"
    published = {port.split(":")[1] for port in services["prometheus"]["ports"]}
    assert source["url"] in {f"http://prometheus:{port}" for port in published}


# ---------------------------------------------------------------------------------------------
# command lines


#: every ptn service of compose and Kubernetes and its command (compose adds the certificates)
PTN_SERVICES = {
    "dso": "serve", "traffic": "serve", "coordinator": "coordinate",
    "pricing-dso": "serve", "pricing-traffic": "serve", "cno1": "serve", "cno2": "serve",
    "cno-alliance": "serve", "pricing-coordinator": "coordinate",
    "sharing-dso": "serve", "tno": "serve", "sharing-coordinator": "coordinate",
}


def test_compose_ptn_commands_follow_the_contract() -> None:
    invocations = compose_invocations()
    assert {name: i.command for name, i in invocations.items()} == {
        "certs": "certs", **PTN_SERVICES}


def test_k8s_ptn_commands_follow_the_contract() -> None:
    invocations = k8s_invocations()
    assert {name: i.command for name, i in invocations.items()} == PTN_SERVICES
    names = [(o["kind"], o["metadata"]["name"]) for o in k8s_objects()]
    assert len(names) == len(set(names)), "two games' objects share a name in namespace ptn"


def test_readme_ptn_commands_follow_the_contract() -> None:
    commands = {i.command for i in readme_invocations()}
    assert {"serve", "coordinate", "run", "certs", "sweep"} <= commands


def test_contract_options_exist_in_the_cli() -> None:
    """Once the runtime's commands exist, they accept every option these files use."""
    import typer

    from ptn.cli.app import app

    commands = getattr(typer.main.get_command(app), "commands", {})
    present = {name: commands[name] for name in COMMAND_OPTIONS if name in commands}
    if not present:
        pytest.skip("the runtime's commands (serve, coordinate, run) are not in the CLI yet")
    used: dict[str, set[str]] = {}
    invocations = [*compose_invocations().values(), *k8s_invocations().values(),
                   *readme_invocations()]
    for invocation in invocations:
        used.setdefault(invocation.command, set()).update(invocation.options)
    for name, command in present.items():
        accepted = {opt for param in command.params for opt in param.opts}
        missing = used.get(name, set()) - accepted
        assert not missing, f"ptn {name} does not accept {sorted(missing)}"


# ---------------------------------------------------------------------------------------------
# ports


def test_compose_ports_agree() -> None:
    services = compose()["services"]
    invocations = compose_invocations()
    assert {n for n, i in invocations.items() if i.command == "coordinate"} == set(GAMES)
    games = {name: check_game(invocations, name) for name in GAMES}
    operators = {host for game in games.values() for host in game.values()}
    assert operators == set(operator_services(invocations)), "an operator in no game"
    for name, game in games.items():
        profile = GAMES[name][1]
        expected_profiles = [profile] if profile else None
        assert services[name].get("profiles") == expected_profiles, name
        for host in game.values():
            role = invocations[host].positionals[0]
            assert services[host].get("profiles") == expected_profiles, host
            probe = services[host]["healthcheck"]["test"]
            assert probe[-2:] == [f"localhost:{HEALTH_PORTS[role]}", HEALTH_SERVICES[role]], probe
            condition = services[name]["depends_on"][host]["condition"]
            assert condition == "service_healthy"
        assert set(services[name]["depends_on"]) == set(game.values())
        coordinator = invocations[name]
        assert coordinator.int_option("--metrics-port") == COORDINATOR_METRICS_PORT
        out = coordinator.option("--out")
        assert any(v.split(":")[1] == out for v in services[name]["volumes"])
    results = [v.split(":")[0] for name in GAMES for v in services[name]["volumes"]
               if v.split(":")[1] == invocations[name].option("--out")]
    assert len(results) == len(set(results)) == len(GAMES), "games share a results volume"


def test_prometheus_scrapes_every_compose_metrics_port() -> None:
    (config,) = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    assert config["global"]["scrape_interval"] == "5s"
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    expected = {f"{name}:{i.option('--metrics-port')}" for name, i in compose_invocations().items()
                if "--metrics-port" in i.options}
    assert targets == expected


def test_k8s_ports_and_probes_agree() -> None:
    invocations = k8s_invocations()
    for name, serve in operator_services(invocations).items():
        role = serve.positionals[0]
        grpc_port, metrics_port = OPERATOR_PORTS[role]
        deployment = k8s_object("Deployment", name)
        spec = pod_spec(deployment)
        (container,) = spec["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports == {"grpc": serve.int_option("--port"),
                         "metrics": serve.int_option("--metrics-port"),
                         "health": serve.int_option("--health-port")}
        assert (ports["grpc"], ports["metrics"], ports["health"]) == (
            grpc_port, metrics_port, HEALTH_PORTS[role])
        assert serve.option("--host") == "0.0.0.0"
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["grpc"]["port"] == ports["health"], f"{name} {probe}"
        assert container["readinessProbe"]["grpc"]["service"] == HEALTH_SERVICES[role]
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["requests"]["memory"]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(ports["metrics"])
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        service = k8s_object("Service", name)
        assert service["spec"]["selector"].items() <= labels.items()
        by_name = {port["name"]: port for port in service["spec"]["ports"]}
        assert by_name["grpc"]["targetPort"] in {"grpc", ports["grpc"]}
        assert by_name["grpc"]["port"] == grpc_port
        assert by_name["health"]["targetPort"] in {"health", ports["health"]}
        assert by_name["health"]["port"] == HEALTH_PORTS[role]
    assert {n for n, i in invocations.items() if i.command == "coordinate"} == set(GAMES)
    for name in GAMES:
        game = check_game(invocations, name)
        job = k8s_object("Job", name)
        coordinator = invocations[name]
        annotations = job["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == coordinator.option("--metrics-port")
        (wait,) = pod_spec(job)["initContainers"]
        roles = {host: invocations[host].positionals[0] for host in game.values()}
        assert wait["command"][3:] == [
            f"{host}:{HEALTH_PORTS[role]}/{HEALTH_SERVICES[role]}" for host, role in roles.items()]


def test_compose_and_k8s_run_the_same_commands() -> None:
    in_compose, in_k8s = compose_invocations(), k8s_invocations()
    in_compose.pop("certs")  # Kubernetes takes each party's certificates from a Secret
    for name, invocation in in_compose.items():
        assert in_k8s[name].positionals == invocation.positionals
        assert in_k8s[name].options == invocation.options, f"{name}: compose and k8s differ"


# ---------------------------------------------------------------------------------------------
# Kubernetes objects


def test_k8s_objects_are_well_formed_and_listed() -> None:
    for folder in k8s_folders():
        (kustomization,) = load_yaml(folder / "kustomization.yaml")
        listed = set(kustomization["resources"])
        present = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert listed == present, folder
        assert kustomization["namespace"] == "ptn", folder
    for obj in k8s_objects():
        assert obj.get("apiVersion") and obj.get("kind") and obj["metadata"].get("name"), obj
    config_maps = {o["metadata"]["name"] for o in k8s_objects() if o["kind"] == "ConfigMap"}
    claims = {o["metadata"]["name"] for o in k8s_objects()
              if o["kind"] == "PersistentVolumeClaim"}
    for obj in k8s_objects():
        if obj["kind"] not in {"Deployment", "Job"}:
            continue
        volumes = pod_spec(obj).get("volumes", [])
        for volume in volumes:
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
        names = {volume["name"] for volume in volumes}
        for container in pod_spec(obj)["containers"]:
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in names, f"{obj['metadata']['name']}: {mount['name']}"


@pytest.mark.parametrize("folder", k8s_folders(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_kustomize_builds_each_folder_into_namespace_ptn(folder: Path) -> None:
    """kubectl's own kustomize builds each folder (when kubectl is installed): every object it
    lists, in namespace ptn, labelled as part of ptn, the image at the tag the Dockerfile's
    comment builds."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    built = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True,
                           text=True, timeout=60, check=False)
    assert built.returncode == 0, built.stderr
    objects = [o for o in yaml.safe_load_all(built.stdout) if o is not None]
    assert len(objects) == sum(len(load_yaml(folder / name)) for name in load_yaml(
        folder / "kustomization.yaml")[0]["resources"])
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "ptn", obj["metadata"]["name"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "ptn"
        if obj["kind"] in {"Deployment", "Job"}:
            spec = pod_spec(obj)
            for container in [*spec.get("initContainers", []), *spec["containers"]]:
                assert container["image"] == "ptn:0.1.0", obj["metadata"]["name"]


# ---------------------------------------------------------------------------------------------
# Ray


def test_ray_cluster_config_is_valid_for_the_launcher() -> None:
    util = pytest.importorskip("ray.autoscaler._private.util")
    (config,) = load_yaml(DEPLOY / "ray" / "cluster.yaml")
    prepared = util.prepare_config(copy.deepcopy(config))
    util.validate_config(prepared)
    assert any("~/ptn" in command for command in config["setup_commands"])
    assert "~/ptn" in config["file_mounts"]


def test_ray_cluster_pins_the_ray_ptn_is_tested_with() -> None:
    import ray

    (config,) = load_yaml(DEPLOY / "ray" / "cluster.yaml")
    pins = re.findall(r"\bray\[default\]==([\w.]+)", " ".join(config["setup_commands"]))
    assert pins == [ray.__version__]


def test_ray_cluster_nodes_have_the_resources_the_placement_pins() -> None:
    """Each operator of deploy/ray/placement.toml (valid for the default scenario) is pinned to
    a resource exactly one listed node starts with; other workers get their own."""
    nodes = node_resources()
    placed = load_development_tool("deploy/ray/run_placed.py").placed_scenario(
        None, DEPLOY / "ray" / "placement.toml")
    placement = placed.document.placement
    assert placement is not None and placement.group
    for operator in placed.document.operator_ids:
        (resource,) = placement.of(operator).resources
        holders = [ip for ip, resources in nodes.items() if resource in resources]
        assert len(holders) == 1, f"{operator}: {resource} on {holders}"
    assert len({name for resources in nodes.values() for name in resources}) == len(nodes)
    (spare,) = other_worker_resources()
    assert all(spare not in resources for resources in nodes.values())


def test_ray_cluster_ships_the_data_the_actors_are_told_about() -> None:
    (config,) = load_yaml(DEPLOY / "ray" / "cluster.yaml")
    assert "~/tntp" in config["file_mounts"]
    assert any("PTN_TNTP_DIR=$HOME/tntp" in command for command in config["setup_commands"])


# ---------------------------------------------------------------------------------------------
# identities, certificates and state


def every_invocation() -> list[Invocation]:
    return [*compose_invocations().values(), *k8s_invocations().values(), *readme_invocations()]


def test_operators_beyond_localhost_serve_mutual_tls() -> None:
    """An operator listening on every interface serves TLS (it answers only the coordinator's
    certificate); the coordinator of those deployments presents its own."""
    for invocation in every_invocation():
        if invocation.command == "serve" and invocation.options.get("--host") == ["0.0.0.0"]:
            operator = operator_id(invocation)
            tls = invocation.option("--tls-dir")
            assert Path(tls).name == operator, f"{invocation.where}: {tls} is not {operator}'s"
    for invocations in (compose_invocations(), k8s_invocations()):
        for name in GAMES:
            coordinator = invocations[name]
            assert Path(coordinator.option("--tls-dir")).name == "coordinator", coordinator.where


def test_compose_makes_the_certificates_first() -> None:
    services = compose()["services"]
    invocations = compose_invocations()
    certs = invocations["certs"]
    (directory,) = certs.positionals
    certified = {o.partition("=")[0]: o.partition("=")[2] for o in certs.options["--operator"]}
    every_operator = {operator: load_scenario(scenario).part(operator).role
                      for scenario, _ in GAMES.values()
                      for operator in load_scenario(scenario).operator_ids}
    assert set(certified) == set(every_operator)
    for operator, role in certified.items():
        assert role in {"", every_operator[operator]}, operator
    assert "--reuse-ca" in certs.options and "--force" not in certs.options  # keeps its CA
    mounts = {v.split(":")[1]: v for v in services["certs"]["volumes"]}
    volume = mounts[directory].split(":")[0]
    for name in PTN_SERVICES:
        tls = invocations[name].option("--tls-dir")
        assert Path(tls).parent == Path(directory), f"compose {name}: {tls}"
        assert f"{volume}:{directory}:ro" in services[name]["volumes"], name
    for name in operator_services(invocations):
        condition = services[name]["depends_on"]["certs"]["condition"]
        assert condition == "service_completed_successfully"
    assert volume in compose()["volumes"]


def test_each_operator_keeps_its_state_on_its_own_volume() -> None:
    services = compose()["services"]
    compose_invocation = compose_invocations()
    k8s_invocation = k8s_invocations()
    volumes, claims = set(), set()
    for name in operator_services(compose_invocation):
        path = compose_invocation[name].option("--private-out")
        assert path == STATE_PATH
        (volume,) = [v.split(":")[0] for v in services[name]["volumes"]
                     if v.split(":")[1] == path]
        assert volume in compose()["volumes"]
        volumes.add(volume)
        spec = pod_spec(k8s_object("Deployment", name))
        (container,) = spec["containers"]
        (mount,) = [m for m in container["volumeMounts"]
                    if m["mountPath"] == k8s_invocation[name].option("--private-out")]
        assert not mount.get("readOnly")
        (volume_spec,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        claim = volume_spec["persistentVolumeClaim"]["claimName"]
        claims.add(claim)
        assert k8s_object("PersistentVolumeClaim", claim)["spec"]["accessModes"] == [
            "ReadWriteOnce"]
        assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsUser"]
    operators = len(operator_services(compose_invocation))
    assert len(volumes) == len(claims) == operators, "operators share a state volume"


def test_k8s_certificates_come_from_one_secret_per_party() -> None:
    """Each party mounts its own Secret at its --tls-dir; the README says how to make each."""
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    invocations = k8s_invocations()
    for name, invocation in invocations.items():
        obj = k8s_object("Job" if name in GAMES else "Deployment", name)
        party = "coordinator" if name in GAMES else operator_id(invocation)
        spec = pod_spec(obj)
        (container,) = spec["containers"]
        tls = invocation.option("--tls-dir")
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == tls]
        assert mount["readOnly"] is True
        (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        secret = volume["secret"]["secretName"]
        assert secret == f"ptn-tls-{party}"
        assert volume["secret"]["defaultMode"] & 0o077 == 0o040  # group-readable, no more
        assert f"create secret generic {secret} --from-file=certs/{party}\n" in readme
