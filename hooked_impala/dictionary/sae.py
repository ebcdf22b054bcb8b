"""A TopK sparse autoencoder over the channel vector at each spatial position of a layer.

A conv layer's activation ``(N, C, H, W)`` is read as ``N·H·W`` vectors of size ``C`` (one
per observation and grid square, :func:`to_vectors`); the autoencoder codes each one with
at most ``k`` of ``size`` latents (Gao et al. 2024, "Scaling and evaluating sparse
autoencoders")::

    pre  = W_enc (x / scale - b_dec) + b_enc        (size,)
    z    = ReLU(TopK_k(pre))                        the k largest, the rest 0
    x̂    = scale · (W_dec z + b_dec)                 W_dec's columns: unit-norm atoms

``scale`` is a fixed scalar (the data's root mean square norm over sqrt(C), set once before
training) so that the learning rate and the initialisation do not depend on the layer's
units; ``latent_direction(i)`` is atom ``i`` in the activation's units (``scale ·
W_dec[:, i]``), the vector a latent adds to a position when it fires with value 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from beartype import beartype
from einops import rearrange
from jaxtyping import Float, jaxtyped
from torch import nn

from hooked_impala import checks

#: Latents per channel when no size is given (an 8x overcomplete dictionary).
DEFAULT_EXPANSION = 8
#: Latents active per vector when no k is given.
DEFAULT_K = 8


@dataclass(frozen=True)
class SAEConfig:
    """The shape of a sparse autoencoder: ``channels`` inputs, ``size`` latents, ``k`` active.

    ``aux_k``: how many dead latents the auxiliary loss uses to reconstruct what the live ones
    miss (Gao et al.'s AuxK; 0 turns it off)."""

    channels: int
    size: int
    k: int
    aux_k: int

    def __post_init__(self) -> None:
        checks.integer("channels", self.channels, minimum=1)
        checks.integer("size", self.size, minimum=1)
        checks.integer("k", self.k, minimum=1)
        checks.integer("aux_k", self.aux_k, minimum=0)
        if self.k > self.size:
            raise ValueError(f"k = {self.k} latents per vector exceeds the size {self.size}")
        if self.aux_k > self.size:
            raise ValueError(f"aux_k = {self.aux_k} exceeds the size {self.size}")

    @classmethod
    def default(cls, channels: int, size: int | None = None, k: int | None = None) -> SAEConfig:
        """``size`` (default ``DEFAULT_EXPANSION × channels``) and ``k`` (default
        ``DEFAULT_K``, at most ``size``); ``aux_k`` half the size, at most ``4k``."""
        size = DEFAULT_EXPANSION * channels if size is None else size
        k = min(DEFAULT_K, size) if k is None else k
        aux_k = min(size // 2, 4 * k) if isinstance(size, int) and isinstance(k, int) else 0
        return cls(channels=channels, size=size, k=k, aux_k=aux_k)

    def as_dict(self) -> dict:
        return asdict(self)


@jaxtyped(typechecker=beartype)
def to_vectors(activation: Float[torch.Tensor, "n c h w"]) -> Float[torch.Tensor, "nhw c"]:
    """The channel vector at every position: row ``(n·H + i)·W + j`` is ``activation[n, :, i,
    j]``."""
    return rearrange(activation, "n c h w -> (n h w) c")


@jaxtyped(typechecker=beartype)
def from_vectors(
    vectors: Float[torch.Tensor, "nhw c"], height: int, width: int
) -> Float[torch.Tensor, "n c h w"]:
    """The inverse of :func:`to_vectors`."""
    return rearrange(vectors, "(n h w) c -> n c h w", h=height, w=width)


class TopKSAE(nn.Module):
    """A TopK sparse autoencoder (see the module docstring). Build with
    ``TopKSAE(SAEConfig(...))``; ``initialise(vectors)`` sets ``scale`` and ``b_dec`` from
    data before training."""

    def __init__(self, config: SAEConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        c, m = config.channels, config.size
        atoms = torch.randn(c, m, generator=generator)
        atoms /= atoms.norm(dim=0, keepdim=True)
        self.W_dec = nn.Parameter(atoms)  # (C, size): columns are the atoms
        self.W_enc = nn.Parameter(atoms.T.clone())  # (size, C): tied at initialisation
        self.b_enc = nn.Parameter(torch.zeros(m))
        self.b_dec = nn.Parameter(torch.zeros(c))
        self.register_buffer("scale", torch.ones(()))

    @torch.no_grad()
    def initialise(self, vectors: Float[torch.Tensor, "n c"]) -> None:
        """``scale``: root mean square of the vectors' norms over sqrt(C); ``b_dec``: their
        mean in those units (the geometric median's usual stand-in)."""
        checked(vectors, self.config.channels, "the training vectors")
        rms = vectors.double().pow(2).sum(-1).mean().sqrt() / math.sqrt(self.config.channels)
        self.scale.fill_(float(rms) if float(rms) > 0 else 1.0)
        self.b_dec.copy_((vectors.double().mean(0) / self.scale).float())

    def pre_activations(self, vectors: Float[torch.Tensor, "n c"]) -> Float[torch.Tensor, "n m"]:
        return (vectors / self.scale - self.b_dec) @ self.W_enc.T + self.b_enc

    @jaxtyped(typechecker=beartype)
    def encode(self, vectors: Float[torch.Tensor, "n c"]) -> Float[torch.Tensor, "n m"]:
        """Codes: the ``k`` largest pre-activations of each vector (ReLU'd), the rest 0."""
        return topk_relu(self.pre_activations(vectors), self.config.k)

    @jaxtyped(typechecker=beartype)
    def decode(self, codes: Float[torch.Tensor, "n m"]) -> Float[torch.Tensor, "n c"]:
        return (codes @ self.W_dec.T + self.b_dec) * self.scale

    @jaxtyped(typechecker=beartype)
    def forward(self, vectors: Float[torch.Tensor, "n c"]) -> Float[torch.Tensor, "n c"]:
        """The reconstruction of each vector."""
        return self.decode(self.encode(vectors))

    @jaxtyped(typechecker=beartype)
    def reconstruct(
        self, activation: Float[torch.Tensor, "n c h w"]
    ) -> Float[torch.Tensor, "n c h w"]:
        """The reconstruction of a whole ``(N, C, H, W)`` activation, position by position."""
        height, width = activation.shape[-2:]
        return from_vectors(self(to_vectors(activation)), height, width)

    @jaxtyped(typechecker=beartype)
    def latent_maps(
        self, activation: Float[torch.Tensor, "n c h w"]
    ) -> Float[torch.Tensor, "n m h w"]:
        """Every latent's code at every position: ``(N, size, H, W)``."""
        height, width = activation.shape[-2:]
        return from_vectors(self.encode(to_vectors(activation)), height, width)

    def latent_direction(self, latent: int) -> Float[torch.Tensor, " c"]:
        """Atom ``latent`` in the activation's units: what a code of 1 adds to a position."""
        latent = checks.integer("latent", latent, minimum=0, maximum=self.config.size - 1)
        return (self.W_dec[:, latent] * self.scale).detach()

    @torch.no_grad()
    def normalise_atoms(self) -> None:
        """Unit-norm atoms (the scale of a latent lives in its code, not its atom)."""
        self.W_dec /= self.W_dec.norm(dim=0, keepdim=True).clamp_min(1e-12)


def topk_relu(pre: Float[torch.Tensor, "n m"], k: int) -> Float[torch.Tensor, "n m"]:
    """The ``k`` largest entries of each row, ReLU'd; every other entry 0."""
    values, indices = pre.topk(k, dim=-1, sorted=False)
    return torch.zeros_like(pre).scatter(-1, indices, values.relu())


def checked(vectors: torch.Tensor, channels: int, what: str) -> torch.Tensor:
    """``vectors`` as ``(n, channels)`` finite floats, else a ValueError naming ``what``."""
    if vectors.ndim != 2 or vectors.shape[1] != channels:
        raise ValueError(
            f"{what} must be (n, {channels}) channel vectors, got shape {tuple(vectors.shape)}"
        )
    if not vectors.dtype.is_floating_point:
        raise ValueError(f"{what} must be floats, got {vectors.dtype}")
    if not torch.isfinite(vectors).all():
        bad = int((~torch.isfinite(vectors)).any(-1).sum())
        raise ValueError(f"{what} hold NaN or infinite values ({bad} of {len(vectors)} vectors)")
    return vectors


def identity_sae(channels: int) -> TopKSAE:
    """An autoencoder that reconstructs every vector exactly: latents ``+x_c`` and ``-x_c``
    (``size = 2C``, ``k = C``: at most C of them are positive), for checking the splice."""
    sae = TopKSAE(SAEConfig(channels=channels, size=2 * channels, k=channels, aux_k=0))
    eye = torch.eye(channels)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye]))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=1))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae
