"""The environment layer (state, maze, render, geometry) imports neither torch nor the model."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MAZE = Path(__file__).resolve().parents[1] / "hooked_impala" / "maze"
ENV_LAYER = ["__init__.py", "state.py", "maze.py", "render.py", "geometry.py"]
ALLOWED = {"__future__", "collections", "dataclasses", "enum", "math", "struct", "typing",
           "numpy", "beartype", "jaxtyping", "procgen"}
ALLOWED_LOCAL = {"state", "maze", "render", "geometry"}


@pytest.mark.parametrize("name", ENV_LAYER)
def test_env_layer_imports(name) -> None:
    tree = ast.parse((MAZE / name).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
            assert set(roots) <= ALLOWED, f"{name}:{node.lineno} imports {roots}"
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: only the env-layer siblings
                assert node.module in ALLOWED_LOCAL, f"{name}:{node.lineno} imports .{node.module}"
            else:
                root = node.module.split(".")[0]
                assert root in ALLOWED, f"{name}:{node.lineno} imports {node.module}"
