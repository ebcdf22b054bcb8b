"""Training a TopK sparse autoencoder on channel vectors, resumable, with a card.

``train_sae(vectors, sae_config, hook=..., checkpoint=path)`` trains with Adam on random
batches of the vectors. Dead latents (none of whose codes were positive in the last
``dead_after`` vectors) are brought back by Gao et al.'s auxiliary loss: the ``aux_k``
largest pre-activations among the dead latents reconstruct what the live latents left
unexplained, weighted by ``aux_coeff``.

Every ``checkpoint_every`` steps (and at the end) the state — weights, Adam's moments, the
step, the dead-latent counters, the curve — is written atomically to ``checkpoint``, with its
card beside it (``<checkpoint>.card.json``: hook, data, size, k, training settings, metrics).
A call with an existing checkpoint resumes from it; its batches depend only on the seed and
the step, so an interrupted run resumed gives the weights of an uninterrupted one. A
checkpoint written with other settings (shape, training, hook or the ``data`` description) is
refused, not mixed in.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from tqdm.auto import tqdm

from hooked_impala import checks
from hooked_impala.dictionary.metrics import Quality, measure
from hooked_impala.dictionary.sae import SAEConfig, TopKSAE, checked
from hooked_impala.files import write_atomically, write_atomically_with

CARD_SUFFIX = ".card.json"


class CheckpointError(ValueError):
    """A dictionary checkpoint that cannot be resumed or read: names the file and why."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes:
        steps: optimizer steps.
        batch: vectors per step (drawn with replacement, seeded by ``seed`` and the step).
        lr: Adam's learning rate; it decays linearly to 0 over the last ``decay_fraction``.
        decay_fraction: the share of the steps over which the learning rate decays.
        seed: initial atoms and batches.
        dead_after: a latent is dead when it has not fired in this many training vectors.
        aux_coeff: weight of the auxiliary loss on dead latents (Gao et al.: 1/32).
        checkpoint_every: steps between checkpoints.
        record_every: steps between points of the training curve.
    """

    steps: int = 3000
    batch: int = 4096
    lr: float = 2e-3
    decay_fraction: float = 0.2
    seed: int = 0
    dead_after: int = 1_000_000
    aux_coeff: float = 1 / 32
    checkpoint_every: int = 500
    record_every: int = 25

    def __post_init__(self) -> None:
        for name in ("steps", "batch", "dead_after", "checkpoint_every", "record_every"):
            checks.integer(name, getattr(self, name), minimum=1)
        checks.integer("seed", self.seed, minimum=0)
        if checks.real("lr", self.lr) <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0 <= checks.real("decay_fraction", self.decay_fraction) <= 1:
            raise ValueError(f"decay_fraction must be in [0, 1], got {self.decay_fraction}")
        checks.real("aux_coeff", self.aux_coeff, minimum=0.0)


@dataclass
class TrainedSAE:
    """A trained dictionary with what it was trained on and how it went.

    ``curve``: one row per ``record_every`` steps: step, mse (in the scaled units), fvu of
    the batch, l0, dead fraction by the training counters, aux loss. ``quality``: measured on
    the ``evaluate_on`` vectors given to ``train_sae`` (held-out mazes), or None."""

    sae: TopKSAE
    hook: str
    train: TrainConfig
    data: dict[str, Any]
    steps_done: int
    curve: list[dict[str, Any]] = field(default_factory=list)
    quality: Quality | None = None

    def card(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "sae": self.sae.config.as_dict(),
            "scale": float(self.sae.scale),
            "train": asdict(self.train),
            "steps_done": self.steps_done,
            "data": self.data,
            "metrics": None if self.quality is None else self.quality.as_dict(),
            "curve": self.curve,
        }


def card_path(checkpoint: str | Path) -> Path:
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + CARD_SUFFIX)


def _learning_rate(config: TrainConfig, step: int) -> float:
    decay_from = config.steps * (1 - config.decay_fraction)
    if step < decay_from or config.decay_fraction == 0:
        return config.lr
    return config.lr * max(0.0, (config.steps - step) / (config.steps - decay_from))


def _batch(config: TrainConfig, step: int, n: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    return torch.randint(n, (config.batch,), generator=generator)


def _save(path: Path, trained: TrainedSAE, optimizer: torch.optim.Optimizer, since: torch.Tensor):
    state = {
        "sae_config": trained.sae.config.as_dict(),
        "train": asdict(trained.train),
        "hook": trained.hook,
        "data": trained.data,
        "weights": trained.sae.state_dict(),
        "optimizer": optimizer.state_dict(),
        "steps_done": trained.steps_done,
        "since_fired": since,
        "curve": trained.curve,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomically_with(path, lambda f: f.write(buffer.getvalue()))
    write_atomically(card_path(path), json.dumps(trained.card(), indent=2) + "\n")


def _read(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file: say which, not pickle's internals
        raise CheckpointError(f"{path} is not a dictionary checkpoint ({e})") from None


def load_sae(path: str | Path) -> TrainedSAE:
    """A dictionary checkpoint written by :func:`train_sae` (its card's metrics included)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such dictionary checkpoint")
    state = _read(path)
    try:
        sae = TopKSAE(SAEConfig(**state["sae_config"]))
        sae.load_state_dict(state["weights"])
        trained = TrainedSAE(
            sae.eval(), state["hook"], TrainConfig(**state["train"]), state["data"],
            state["steps_done"], state["curve"],
        )  # fmt: skip
    except (KeyError, TypeError, RuntimeError) as e:  # another kind of torch file
        raise CheckpointError(f"{path} is not a dictionary checkpoint ({e!r})") from None
    card = card_path(path)
    if card.is_file():
        metrics = json.loads(card.read_text()).get("metrics")
        if metrics is not None:
            trained.quality = Quality(**metrics, firing=[])
    return trained


def train_sae(
    vectors: Float[torch.Tensor, "n c"],
    config: SAEConfig,
    *,
    hook: str,
    train: TrainConfig = TrainConfig(),
    data: Mapping[str, Any] | None = None,
    checkpoint: str | Path | None = None,
    evaluate_on: Float[torch.Tensor, "m c"] | None = None,
    until: int | None = None,
    progress: bool = False,
) -> TrainedSAE:
    """Train a TopK autoencoder on ``vectors`` (see the module docstring).

    Args:
        vectors: ``(n, C)`` channel vectors (finite).
        config: the autoencoder's shape (``SAEConfig.default(C)`` for the defaults).
        hook: the hook the vectors come from (recorded in the card).
        train: the training settings.
        data: what the vectors are (mazes, seeds, checkpoint...), recorded in the card.
        checkpoint: file to write (and resume from); None: nothing written.
        evaluate_on: held-out vectors measured at the end (the card's metrics).
        until: stop after this step in this call (a checkpoint is written): training in
            instalments; None: to ``train.steps``.
        progress: a progress bar.
    """
    checked(vectors, config.channels, "the training vectors")
    if len(vectors) == 0:
        raise ValueError("training a dictionary needs at least one vector")
    if evaluate_on is not None:
        checked(evaluate_on, config.channels, "the evaluation vectors")
    stop = train.steps if until is None else checks.integer("until", until, 1, train.steps)
    data = dict(data or {})
    generator = torch.Generator().manual_seed(train.seed)
    sae = TopKSAE(config, generator)
    sae.initialise(vectors)
    optimizer = torch.optim.Adam(sae.parameters(), lr=train.lr)
    since = torch.zeros(config.size, dtype=torch.int64)  # vectors since each latent fired
    trained = TrainedSAE(sae, hook, train, data, 0)
    path = None if checkpoint is None else checks.output_file("checkpoint", checkpoint)
    if path is not None and path.exists():
        state = _read(path)
        expected = {
            "sae_config": config.as_dict(), "train": asdict(train), "hook": hook, "data": data,
        }  # fmt: skip
        changed = [k for k, v in expected.items() if state.get(k) != v]
        if changed:
            raise CheckpointError(
                f"{path} was trained with other settings ({', '.join(changed)} differ); "
                "use another file or delete it"
            )
        sae.load_state_dict(state["weights"])
        optimizer.load_state_dict(state["optimizer"])
        since = state["since_fired"]
        trained.steps_done, trained.curve = state["steps_done"], state["curve"]
    bar = tqdm(total=stop, initial=trained.steps_done, desc=f"SAE {hook}", disable=not progress)
    for step in range(trained.steps_done, stop):
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(train, step)
        x = vectors[_batch(train, step, len(vectors))].float() / sae.scale
        row = _step(sae, optimizer, x, since, train)
        trained.steps_done = step + 1
        if step % train.record_every == 0 or step + 1 == train.steps:
            trained.curve.append({"step": step, **row})
        if path is not None and (trained.steps_done % train.checkpoint_every == 0):
            _save(path, trained, optimizer, since)
        bar.update(1)
    bar.close()
    sae.eval()
    if evaluate_on is not None and trained.steps_done == train.steps:
        trained.quality = measure(sae, evaluate_on)
    if path is not None:
        _save(path, trained, optimizer, since)
    return trained


def _step(
    sae: TopKSAE,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    since: torch.Tensor,
    train: TrainConfig,
) -> dict[str, float]:
    """One Adam step on a batch ``x`` (in the scaled units); updates the dead counters."""
    pre = (x - sae.b_dec) @ sae.W_enc.T + sae.b_enc
    values, indices = pre.topk(sae.config.k, dim=-1, sorted=False)
    codes = torch.zeros_like(pre).scatter(-1, indices, values.relu())
    recon = codes @ sae.W_dec.T + sae.b_dec
    mse = (recon - x).pow(2).sum(-1).mean()
    fired = (codes > 0).any(0)
    since.add_(len(x)).masked_fill_(fired, 0)
    dead = since >= train.dead_after
    aux = torch.zeros(())
    aux_k = min(sae.config.aux_k, int(dead.sum()))
    if aux_k > 0 and train.aux_coeff > 0:
        residual = (x - recon).detach()
        dead_pre = pre.masked_fill(~dead, float("-inf"))
        v, i = dead_pre.topk(aux_k, dim=-1, sorted=False)
        aux_codes = torch.zeros_like(pre).scatter(-1, i, v.relu())
        aux = (aux_codes @ sae.W_dec.T - residual).pow(2).sum(-1).mean()
        aux = aux / residual.pow(2).sum(-1).mean().clamp_min(1e-12)
    loss = mse + train.aux_coeff * aux
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    sae.normalise_atoms()
    variance = (x - x.mean(0)).pow(2).sum(-1).mean()
    return {
        "mse": float(mse.detach()),
        "fvu": float(mse.detach() / variance.clamp_min(1e-12)),
        "l0": float((codes > 0).sum(-1).float().mean()),
        "dead_fraction": float(dead.float().mean()),
        "aux_loss": float(aux.detach()),
    }
