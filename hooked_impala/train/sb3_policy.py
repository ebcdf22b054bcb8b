"""``HookedImpalaPolicy``: a stable-baselines3 actor-critic policy that *is* a ``HookedImpala``.

SB3's ``ActorCriticPolicy`` builds a features extractor, an MLP and its own heads; this
subclass builds none of them. Its only parameters are ``policy.model``, a ``HookedImpala``:
the 15 logits of ``fc_policy`` give the ``Categorical`` over procgen's actions and
``fc_value`` the value, so PPO trains the network itself, every hook stays in place, and
``policy.model.state_dict()`` is a checkpoint in the original format.

Observations reach the network exactly as procgen renders them, uint8 ``(N, 64, 64, 3)``:
SB3 moves image channels first before the policy sees them (``VecTransposeImage``), and
the policy moves them back, so no second normalisation path exists.
"""

from __future__ import annotations

from typing import Any

import torch

from hooked_impala.model import HookedImpala, ImpalaConfig
from hooked_impala.train.sb3 import require_sb3

require_sb3()

from stable_baselines3.common.distributions import (  # noqa: E402
    CategoricalDistribution,
    Distribution,
)
from stable_baselines3.common.policies import ActorCriticPolicy  # noqa: E402


def procgen_layout(obs: torch.Tensor) -> torch.Tensor:
    """uint8 observations as procgen gives them, ``(N, 64, 64, 3)``, from either layout.

    ``(N, 3, 64, 64)`` (SB3's channels-first copy of an image space) is permuted back;
    anything else is passed on for ``HookedImpala`` to accept or reject with its own error.
    """
    if obs.dtype == torch.uint8 and obs.ndim == 4 and obs.shape[1] == 3 and obs.shape[3] != 3:
        return obs.permute(0, 2, 3, 1)
    return obs


class HookedImpalaPolicy(ActorCriticPolicy):
    """An ``ActorCriticPolicy`` whose whole network is ``self.model``, a ``HookedImpala``.

    Args (besides SB3's ``observation_space, action_space, lr_schedule``):
        impala_config: the widths, as ``ImpalaConfig`` fields (a plain dict, so SB3 can
            save it with the policy's constructor arguments). Load starting weights with
            ``policy.model.load_state_dict``.
    """

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        lr_schedule: Any,
        impala_config: dict | None = None,
        **kwargs: Any,
    ) -> None:
        # Read by _build, which ActorCriticPolicy.__init__ calls.
        self._impala_fields = dict(impala_config or {})
        kwargs["ortho_init"] = False  # the weights come from a checkpoint
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
        if not isinstance(self.action_dist, CategoricalDistribution):
            raise ValueError(
                f"HookedImpalaPolicy needs a Discrete action space, got {action_space}"
            )

    def _build(self, lr_schedule: Any) -> None:
        """The network and the optimizer (instead of SB3's MLP extractor and heads)."""
        config = self._impala_fields
        if "channels" in config:
            config = {**config, "channels": tuple(config["channels"])}
        self.model = HookedImpala(ImpalaConfig(**config))
        if self.model.cfg.num_actions != self.action_space.n:
            raise ValueError(
                f"the network has {self.model.cfg.num_actions} actions, the env "
                f"{self.action_space.n}"
            )
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["impala_config"] = dict(self._impala_fields)
        return data

    def _distribution_and_value(self, obs: torch.Tensor) -> tuple[Distribution, torch.Tensor]:
        """The action distribution and the value ``(N, 1)`` of one forward pass."""
        out = self.model(procgen_layout(obs))
        distribution = self.action_dist.proba_distribution(action_logits=out.logits)
        return distribution, out.value.unsqueeze(-1)

    def forward(
        self, obs: torch.Tensor, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Actions ``(N,)``, values ``(N, 1)`` and the actions' log-probabilities ``(N,)``."""
        distribution, values = self._distribution_and_value(obs)
        actions = distribution.get_actions(deterministic=deterministic)
        return actions, values, distribution.log_prob(actions)

    def evaluate_actions(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Values ``(N, 1)``, log-probabilities and entropies ``(N,)`` of given actions."""
        distribution, values = self._distribution_and_value(obs)
        return values, distribution.log_prob(actions), distribution.entropy()

    def get_distribution(self, obs: torch.Tensor) -> Distribution:
        return self._distribution_and_value(obs)[0]

    def predict_values(self, obs: torch.Tensor) -> torch.Tensor:
        return self._distribution_and_value(obs)[1]
