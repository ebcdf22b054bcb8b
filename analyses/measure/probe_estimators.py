"""The probes' estimators: a ridge classifier fitted from streamed sums and a 1×1
convolutional probe with a spatial softmax, both exact and small enough to run on any layer
without caching it (see :mod:`analyses.probes`, which uses them)."""

from __future__ import annotations

import numpy as np
import torch
from jaxtyping import Float, Int

__all__ = ["ConvProbe", "StreamingRidge", "one_hot"]

CONV_LEARNING_RATE = 0.05


class StreamingRidge:
    """Ridge regression of ``targets`` outputs on ``dim`` features with an intercept, fitted
    from sums accumulated batch by batch (float64): exactly scikit-learn's ``Ridge`` /
    ``RidgeClassifier`` on all the rows seen, in O(dim²) memory whatever their number.

    ``update`` the sums, ``fit`` once (one eigendecomposition serves every penalty), then
    ``decision(x, alpha)``: the fitted values ``(n, targets)``; ``alpha`` is one penalty or
    one per target column.
    """

    def __init__(self, dim: int, targets: int) -> None:
        self.n = 0
        # Sums of x − shift (the first batch's mean): centring by subtracting n·mean·meanᵀ
        # from raw sums would cancel catastrophically for features far from zero.
        self.shift: np.ndarray | None = None
        self.sum_x = np.zeros(dim)
        self.sum_y = np.zeros(targets)
        self.xx = np.zeros((dim, dim))
        self.xy = np.zeros((dim, targets))
        self._fitted: tuple[np.ndarray, ...] | None = None

    def update(
        self,
        x: Float[np.ndarray, "n d"],
        y: Float[np.ndarray, "n t"],
        weight: Float[np.ndarray, " n"] | None = None,
    ) -> None:
        """Add rows ``x`` with targets ``y``; a row of whole-number ``weight`` w counts as
        w copies of it (0: left out), which is how a bootstrap refit resamples mazes."""
        if self._fitted is not None:
            raise RuntimeError("StreamingRidge.update after fit")
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if len(x) == 0:
            return
        w = np.ones(len(x)) if weight is None else np.asarray(weight, dtype=np.float64)
        if w.shape != (len(x),) or (w < 0).any():
            raise ValueError(f"row weights are {len(x)} values >= 0, got shape {w.shape}")
        if self.shift is None:
            self.shift = x.mean(0)
        d = x - self.shift
        self.n += float(w.sum()) if weight is not None else len(x)
        self.sum_x += w @ d
        self.sum_y += w @ y
        self.xx += d.T @ (w[:, None] * d)
        self.xy += d.T @ (w[:, None] * y)

    def fit(self) -> None:
        if self.n == 0 or self.shift is None:
            raise ValueError("StreamingRidge.fit with no rows")
        mean_d, mean_y = self.sum_x / self.n, self.sum_y / self.n
        gram = self.xx - self.n * np.outer(mean_d, mean_d)
        cross = self.xy - self.n * np.outer(mean_d, mean_y)
        del self.xx, self.xy  # the eigenvectors take their place: memory stays O(dim²)
        values, vectors = np.linalg.eigh((gram + gram.T) / 2)
        mean_x = self.shift + mean_d
        self._fitted = (mean_x, mean_y, np.clip(values, 0.0, None), vectors, vectors.T @ cross)

    @property
    def scale(self) -> float:
        """Mean eigenvalue of the centred Gram matrix (1 for constant features): the unit
        of the relative penalties."""
        if self._fitted is None:
            raise RuntimeError("StreamingRidge.scale before fit")
        mean = float(self._fitted[2].mean())
        return mean if mean > 0 else 1.0

    def decision(
        self, x: Float[np.ndarray, "n d"], alpha: float | Float[np.ndarray, " t"]
    ) -> Float[np.ndarray, "n t"]:
        if self._fitted is None:
            raise RuntimeError("StreamingRidge.decision before fit")
        mean_x, mean_y, values, vectors, rotated = self._fitted
        alpha = np.asarray(alpha, dtype=np.float64)
        if np.any(alpha <= 0):
            raise ValueError(f"ridge penalties must be > 0, got {alpha}")
        u = (np.asarray(x, dtype=np.float64) - mean_x) @ vectors
        if alpha.ndim == 0:
            return (u / (values + alpha)) @ rotated + mean_y
        # One penalty per column: (U / (λ + α_t)) @ rotated[:, t], column by column group.
        out = np.empty((len(u), rotated.shape[1]))
        for a in np.unique(alpha):
            cols = alpha == a
            out[:, cols] = (u / (values + a)) @ rotated[:, cols]
        return out + mean_y


def one_hot(classes: Int[np.ndarray, " n"], size: int) -> Float[np.ndarray, "n size"]:
    out = np.zeros((len(classes), size))
    out[np.arange(len(classes)), classes] = 1.0
    return out


class ConvProbe:
    """A 1×1 convolution (C -> 1) with a softmax over ``candidates`` (flat indices
    ``i·S + j`` of the squares that can hold the target), trained online with Adam.

    The loss (mean cross-entropy) is convex in the C weights and its gradient has a closed
    form, Σ x (softmax − one-hot) / n (``gradient``; the test compares it with autograd's).
    The steps run in numpy: on tensors this small, torch's two threads spend more time
    waiting for each other on a busy machine than computing. Channels are divided by their
    standard deviation in the first training batch (1 for a constant channel), so one
    learning rate suits layers of any scale. Ties in the scores go to the candidate most
    frequent among the training targets.
    """

    betas = (0.9, 0.999)
    eps = 1e-8

    def __init__(self, channels: int, side: int, candidates: Int[np.ndarray, " k"]) -> None:
        self.side = side
        self.candidates = np.asarray(candidates, dtype=np.int64)
        self.position = np.full(side * side, -1, dtype=np.int64)
        self.position[self.candidates] = np.arange(len(self.candidates))
        self.weight = np.zeros(channels)
        self._moments = (np.zeros(channels), np.zeros(channels))
        self.steps = 0
        self.scale: np.ndarray | None = None
        self.counts = np.zeros(len(self.candidates), dtype=np.int64)

    def inputs(self, acts: Float[torch.Tensor, "n c s s"]) -> Float[np.ndarray, "n k c"]:
        """The scaled activations at the candidate squares."""
        assert self.scale is not None
        x = acts.detach().cpu().flatten(2)[:, :, self.candidates].double().numpy()
        return np.ascontiguousarray(x.transpose(0, 2, 1) / self.scale)

    def gradient(
        self, x: Float[np.ndarray, "n k c"], target: Int[np.ndarray, " n"]
    ) -> tuple[Float[np.ndarray, " c"], float]:
        """Gradient and value of the mean cross-entropy at the current weights."""
        logits = x @ self.weight
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        rows = np.arange(len(target))
        error = np.exp(log_p)
        error[rows, target] -= 1.0
        grad = x.reshape(-1, x.shape[2]).T @ error.reshape(-1) / len(target)
        return grad, float(-log_p[rows, target].mean())

    def train(
        self, acts: Float[torch.Tensor, "n c s s"], squares: Int[np.ndarray, " n"], steps: int
    ) -> None:
        """``steps`` Adam steps on this batch; ``squares``: flat target squares ``(n,)``."""
        if len(squares) == 0:
            return
        if self.scale is None:
            flat = acts.detach().cpu().double().transpose(0, 1).flatten(1)
            std = flat.std(dim=1).numpy() if flat.shape[1] > 1 else np.ones(len(flat))
            self.scale = np.where(std > 0, std, 1.0)
        target = self.position[np.asarray(squares, dtype=np.int64)]
        if (target < 0).any():
            raise ValueError("a probe target is not one of the candidate squares")
        self.counts += np.bincount(target, minlength=len(self.candidates))
        x = self.inputs(acts)
        (b1, b2), (m, v) = self.betas, self._moments
        for _ in range(steps):
            grad, _ = self.gradient(x, target)
            self.steps += 1
            m *= b1
            m += (1 - b1) * grad
            v *= b2
            v += (1 - b2) * grad * grad
            denom = np.sqrt(v / (1 - b2**self.steps)) + self.eps
            self.weight -= CONV_LEARNING_RATE / (1 - b1**self.steps) * m / denom

    def predict(self, acts: Float[torch.Tensor, "n c s s"]) -> Int[np.ndarray, " n"]:
        """Flat index ``i·S + j`` of the predicted square."""
        if self.scale is None:
            raise RuntimeError("ConvProbe.predict before any training batch")
        scores = self.inputs(acts) @ self.weight
        tied = scores == scores.max(axis=1, keepdims=True)
        best = (tied * (self.counts + 1)[None, :]).argmax(1)  # ties: most frequent in training
        return self.candidates[best]
