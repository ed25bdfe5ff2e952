"""The fresh-machine contract: every import is declared, and a diagnostics artefact that cannot
be produced (the dask performance report without bokeh) is a warning, never a failed run."""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cubeeco"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements) -> set[str]:
    return {_norm(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) for r in requirements}


def _declared() -> tuple[set[str], set[str]]:
    """(core, extras) distribution names from the installed package's own metadata, which is
    pyproject.toml as pip read it."""
    reqs = md.requires("cubeeco") or []
    core = _requirement_names(r for r in reqs if "extra ==" not in r)
    extras = _requirement_names(r for r in reqs if "extra ==" in r)
    return core, extras


def _guarded(node: ast.AST, parents: dict) -> bool:
    """An import inside ``try: ... except ImportError`` is optional by construction."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try) and any(
                h.type is not None and "ImportError" in ast.unparse(h.type) for h in node.handlers):
            return True
    return False


def _imports(path: Path):
    """(top-level module, optional?) of every absolute import in ``path``."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            yield name.split(".")[0], _guarded(node, parents)


def test_every_module_the_package_imports_is_declared():
    core, extras = _declared()
    dists = md.packages_distributions()
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        testing = "testing" in path.relative_to(PACKAGE).parts   # test helpers may use [test] extras
        for module, optional in _imports(path):
            if module in sys.stdlib_module_names or module in ("cubeeco", "__future__"):
                continue
            owners = {_norm(d) for d in dists.get(module, [])}
            if not owners:
                if not optional:
                    problems.append(f"{path.relative_to(ROOT)}: {module} is not installed at all")
                continue
            allowed = core | extras if (testing or optional) else core
            if not owners & allowed:
                problems.append(f"{path.relative_to(ROOT)}: imports {module} ({', '.join(sorted(owners))}), "
                                f"which pyproject.toml does not declare"
                                + ("" if testing or optional else " in [project] dependencies"))
    assert not problems, "\n".join(problems)


def test_declared_dependencies_carry_minimum_versions():
    reqs = [r.split(";")[0] for r in md.requires("cubeeco") or []]
    unpinned = [r for r in reqs if not re.search(r">=|==|~=", r)]
    assert not unpinned, f"dependencies without a minimum version: {unpinned}"


def test_local_cluster_run_without_bokeh_warns_and_succeeds(tiny_base, tmp_path):
    """bokeh blocked in the client process (where LocalCluster's scheduler and the performance
    report live): the run exits 0, the store is complete, the log has the warning."""
    cfg = {"name": "nobokeh", "store": "run.zarr", "steps": ["land_cover"], "source": str(tiny_base.root),
           "grid": tiny_base.config.grid.to_dict(), "chunks": 32, "years": [2013, 2014],
           "cluster": {"kind": "local", "n_workers": 1, "memory_limit": "2GiB"}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code = ("import sys; sys.modules['bokeh'] = None\n"   # import bokeh -> ImportError
            "from cubeeco.cli import main\n"
            f"sys.exit(main(['run', {str(path)!r}, '-q']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from cubeeco.io.store import is_complete

    assert is_complete(tmp_path / "run.zarr", "land_cover")
    events = [json.loads(line) for line in (tmp_path / "run.zarr.log.jsonl").read_text().splitlines()]
    warnings = [e for e in events if e.get("event") == "warning"]
    assert warnings and "performance report" in warnings[0]["message"], events
    assert any(e.get("action") == "computed" for e in events)


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="only meaningful inside the virtual environment")
def test_suite_runs_inside_a_virtual_environment_of_the_clone():
    # CI and README command 2 install into .venv inside the clone, never into site-packages
    assert Path(sys.prefix).resolve().parent == ROOT, sys.prefix
