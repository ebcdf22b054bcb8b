"""The probes' hooks, labels, penalties and thresholds (one place for each)."""

from __future__ import annotations

from hooked_impala.stats import Rate

DEFAULT_HOOKS: tuple[str, ...] = (
    *(f"embedder.block{b}.res{r}.resadd_out" for b in (1, 2, 3) for r in (1, 2)),
    "embedder.relu3_out",
    "embedder.fc_out",
)
LINEAR_LABELS: tuple[str, ...] = ("cheese_cell", "mouse_cell", "cheese_present", "cell_open")
CONV_LABELS: tuple[str, ...] = ("cheese_square", "mouse_square")
LABELS: tuple[str, ...] = LINEAR_LABELS + CONV_LABELS
# Ridge penalties, in units of the mean eigenvalue of the centred Gram matrix, so the same
# grid suits layers of any scale; the validation mazes pick one per layer and label.
ALPHAS: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
B8_THRESHOLD = 0.9
A5_THRESHOLD = 0.7


def short(hook: str) -> str:
    return hook.removeprefix("embedder.")


def rate_str(saved: dict) -> str:
    return str(Rate(saved["k"], saved["n"]))
