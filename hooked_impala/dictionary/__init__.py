"""Sparse dictionaries of the maze network: TopK sparse autoencoders over the channel vector
at each spatial position of a hook, trained on activations gathered along the policy's own
trajectories, measured (FVU, L0, dead and dense latents), and used as interventions
(splice the reconstruction in; add a latent's direction at a square).

The room above the model, the maze layer and the policy: it imports them, and nothing in
the library imports it. The reasons for a small implementation over the maintained SAE
libraries are in ``docs/dictionaries.md``.
"""

from hooked_impala.dictionary.data import (
    DEFAULT_HOOKS,
    DEFAULT_PER_MAZE,
    ActivationSet,
    gather_activations,
    spatial_hooks,
    split_mazes,
)
from hooked_impala.dictionary.interventions import AddAt, Splice, add_latent, splice
from hooked_impala.dictionary.metrics import DENSE_ABOVE, Quality, mean_max_cosine, measure
from hooked_impala.dictionary.sae import (
    SAEConfig,
    TopKSAE,
    from_vectors,
    identity_sae,
    to_vectors,
)
from hooked_impala.dictionary.train import (
    CheckpointError,
    TrainConfig,
    TrainedSAE,
    card_path,
    load_sae,
    train_sae,
)

__all__ = [
    "DEFAULT_HOOKS",
    "DEFAULT_PER_MAZE",
    "DENSE_ABOVE",
    "ActivationSet",
    "AddAt",
    "CheckpointError",
    "Quality",
    "SAEConfig",
    "Splice",
    "TopKSAE",
    "TrainConfig",
    "TrainedSAE",
    "add_latent",
    "card_path",
    "from_vectors",
    "gather_activations",
    "identity_sae",
    "load_sae",
    "mean_max_cosine",
    "measure",
    "spatial_hooks",
    "splice",
    "split_mazes",
    "to_vectors",
    "train_sae",
]
