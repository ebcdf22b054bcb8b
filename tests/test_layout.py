"""The package's rooms and which may import which (docs/contributing.md draws the map).

Every Python file of ``hooked_impala/``, ``analyses/`` and ``explorer/`` is read (all
imports, including ones inside functions); a file in a room may import only the rooms listed
for it. New files are covered without editing this test.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# room -> the project rooms it may import (besides itself). Third-party imports are free
# except in the maze layer, which must run without torch.
ROOMS: dict[str, set[str]] = {
    "hooked_impala.actions": set(),
    "hooked_impala.files": set(),
    "hooked_impala.runtime": set(),
    "hooked_impala.checks": set(),
    "hooked_impala.stats": set(),
    "hooked_impala.hooks": {"hooked_impala.activation_cache"},
    "hooked_impala.activation_cache": {"hooked_impala.hooks"},
    "hooked_impala.model": {"hooked_impala.hooks", "hooked_impala.actions"},
    "hooked_impala.incremental": {"hooked_impala.hooks", "hooked_impala.model"},
    "hooked_impala.interventions": {
        "hooked_impala.checks",
        "hooked_impala.hooks",
        "hooked_impala.model",
        "hooked_impala.incremental",
    },
    "hooked_impala.pretrained": {
        "hooked_impala.checks",
        "hooked_impala.model",
        "hooked_impala.files",
        "hooked_impala.actions",
    },
    "hooked_impala.maze": {"hooked_impala.actions"},
    "hooked_impala.policy": {
        "hooked_impala.maze",
        "hooked_impala.model",
        "hooked_impala.hooks",
        "hooked_impala.actions",
        "hooked_impala.interventions",
        "hooked_impala.incremental",
        "hooked_impala.files",
        "hooked_impala.pretrained",
        "hooked_impala.runtime",
        "hooked_impala.cli",
        "hooked_impala.checks",
        "hooked_impala.stats",
        "hooked_impala.sweep",
    },
    "hooked_impala.sweep": {"hooked_impala.checks", "hooked_impala.model"},
    "hooked_impala.patching": {
        "hooked_impala.actions",
        "hooked_impala.maze",
        "hooked_impala.model",
        "hooked_impala.stats",
        "hooked_impala.sweep",
    },
    "hooked_impala.dictionary": {
        "hooked_impala.checks",
        "hooked_impala.files",
        "hooked_impala.hooks",
        "hooked_impala.interventions",  # a latent edit checks its positions as a clamp does
        "hooked_impala.maze",
        "hooked_impala.model",
        "hooked_impala.policy",
        "hooked_impala.sweep",
    },
    "hooked_impala.cli": {
        "hooked_impala.checks",
        "hooked_impala.pretrained",
        "hooked_impala.model",
        "hooked_impala.maze",
        "hooked_impala.runtime",
        "hooked_impala.files",
    },
    "hooked_impala.train": {
        "hooked_impala.maze",
        "hooked_impala.policy",
        "hooked_impala.model",
        "hooked_impala.actions",
        "hooked_impala.files",
        "hooked_impala.pretrained",
        "hooked_impala.runtime",
        "hooked_impala.cli",
        "hooked_impala.stats",
    },
    "hooked_impala": {"hooked_impala"},  # the package's __init__ re-exports
    # analyses/: the package itself imports nothing; core is the plumbing; measure, the
    # measurements analyses share; each analysis (module or package) is a room of its own
    # (ANALYSIS_ROOM below), which imports core and measure, never another analysis.
    "analyses": set(),
    "analyses.core": {"hooked_impala"},
    "analyses.core.registry": {"hooked_impala", "analyses"},  # lists every analysis
    "analyses.measure": {"hooked_impala", "analyses.core"},
    "analyses.report": {"analyses.core"},  # the main job's entry point
    # The explorer shows and exports what analyses.maze_view computes.
    "explorer": {"hooked_impala", "analyses"},
}
#: What an analysis (``analyses.<name>``, a module or a package) may import besides itself.
ANALYSIS_ROOM = {"hooked_impala", "analyses.core", "analyses.measure"}
#: The modules at the top of analyses/ (the registry imports every analysis, the report the
#: registry): only these rooms may import them. The scoreboard finds the analyses whose
#: results it judges through the registry, when it runs.
TOP = {
    "analyses.core.registry": {"analyses.core.report", "analyses.scoreboard", "explorer"},
    "analyses.core.report": {"analyses.report"},
}
#: The project's top-level packages, whose files and imports this test reads.
PACKAGES = ("hooked_impala", "analyses", "explorer")
MAZE_THIRD_PARTY = {"numpy", "beartype", "jaxtyping", "procgen"}
STDLIB = set(sys.stdlib_module_names)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room_of(module: str) -> str:
    """The longest room name that is ``module`` or a parent package of it; an analysis
    (``analyses.<name>`` outside core and measure) is a room of its own."""
    parts = module.split(".")
    if parts[0] == "analyses" and len(parts) > 1 and module not in ROOMS:
        if parts[1] not in ("core", "measure"):
            return ".".join(parts[:2])
    candidates = [r for r in ROOMS if module == r or module.startswith(r + ".")]
    if not candidates:
        raise AssertionError(f"{module} belongs to no room: add it to ROOMS and the docs' map")
    return max(candidates, key=len)


def imports_of(module: str, source: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in ``source``, the text of ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            name = node.module
            if node.level:  # relative: resolve against the package
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:  # `from pkg import module` imports pkg.module
                sub = REPO / name.replace(".", "/") / alias.name
                is_module = sub.with_suffix(".py").is_file() or sub.is_dir()
                found.append((node.lineno, f"{name}.{alias.name}" if is_module else name))
    return found


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Imports of ``module`` that break the rooms' rules, as readable lines."""
    room = room_of(module)
    allowed = ROOMS.get(room, ANALYSIS_ROOM) | {room}
    problems = []
    for line, name in imports_of(module, source, is_package):
        root = name.split(".")[0]
        where = f"{module}:{line} imports {name}"
        if root in PACKAGES:
            target = name if name in PACKAGES else room_of(name)
            top = next((t for t in TOP if name == t or name.startswith(t + ".")), None)
            if top is not None and top != room and not module.startswith(top):
                if room not in TOP[top] and module not in TOP[top]:
                    problems.append(f"{where}: only {sorted(TOP[top])} may import {top}")
            elif not any(target == a or target.startswith(a + ".") for a in allowed):
                problems.append(f"{where}: room {room} may import only {sorted(allowed)}")
        elif room == "hooked_impala.maze" and root not in MAZE_THIRD_PARTY | STDLIB:
            problems.append(f"{where}: the maze layer runs without torch or other libraries")
    return problems


FILES = sorted(path for package in PACKAGES for path in (REPO / package).rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_point_one_way(path: Path) -> None:
    assert violations(module_name(path), path.read_text(), path.name == "__init__.py") == []


def test_the_rules_can_fail() -> None:
    source = "import torch\nfrom ..model import HookedImpala\nfrom analyses import ANALYSES\n"
    found = violations("hooked_impala.maze.probe", source)
    assert len(found) == 3 and "without torch" in found[0]
    assert violations("hooked_impala.model", "from hooked_impala.maze import Maze\n")
    assert violations("hooked_impala.policy.x", "from analyses.common import cli\n")
    assert not violations("analyses.x", "from hooked_impala.policy import rollout\n")
    assert violations("analyses.x", "from explorer.app import make_app\n")
    assert violations("hooked_impala.policy.x", "import explorer\n")


def test_an_analysis_never_imports_another() -> None:
    """The rule of analyses/, shown failing on each kind of arrow it forbids."""
    assert room_of("analyses.retarget.figures") == "analyses.retarget"
    # Another analysis, from an analysis, from a measurement, from the plumbing:
    assert violations("analyses.retarget", "from analyses.cheese_channels import run\n")
    assert violations("analyses.retarget.result", "import analyses.probes.labels\n")
    assert violations("analyses.measure.x", "from analyses.retarget import run\n")
    assert violations("analyses.core.spec", "from analyses.measure import steering\n")
    # The registry and the report are above every analysis:
    assert violations("analyses.retarget", "from analyses.core.registry import ANALYSES\n")
    assert violations("analyses.measure.x", "from analyses.core import report\n")
    # What is allowed: its own modules, core, measure, the library; the scoreboard's lookup.
    ok = (
        "from analyses.retarget.figures import figures\n"
        "from analyses.core.spec import Analysis\n"
        "from analyses.measure.retarget import target_rollouts\n"
        "from hooked_impala.maze import Maze\n"
    )
    assert violations("analyses.retarget.result", ok) == []
    assert violations("analyses.scoreboard.evidence", "from analyses.core import registry\n") == []
    assert violations("analyses.core.registry", "from analyses import retarget, probes\n") == []


# --- what importing a module really imports (all files, transitively, in a fresh interpreter) ---


def modules_imported_by(module: str) -> set[str]:
    """``sys.modules`` after ``import module`` in a fresh interpreter run from the repository."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def test_the_maze_layer_imports_no_torch() -> None:
    imported = modules_imported_by("hooked_impala.maze")
    assert "hooked_impala.maze.render" in imported  # the probe saw the maze layer load
    assert "torch" not in imported, "import hooked_impala.maze imported torch"


def test_the_torch_probe_can_fail() -> None:
    assert "torch" in modules_imported_by("hooked_impala.model")
    # The package's names come lazily, but they do come:
    code = "import sys, hooked_impala; hooked_impala.HookedImpala; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.stdout.strip() == "True", done.stderr


def test_modules_run_as_scripts_are_not_imported_by_their_package_first() -> None:
    for module in ("hooked_impala.policy.evaluation", "hooked_impala.train.card"):
        done = subprocess.run(
            [sys.executable, "-m", module, "--help"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "found in sys.modules" not in done.stderr, done.stderr
