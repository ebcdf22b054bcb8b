"""Train IMPALA maze policies: by imitating the shortest-path oracle (behaviour cloning,
then DAgger) on a controlled cheese distribution, or by fine-tuning a checkpoint with PPO
under a reward of your choosing (``hooked_impala.train.finetune``, needs the ``rl`` extra).
``python -m hooked_impala.train --help``, ``python -m hooked_impala.train ppo --help``."""

from hooked_impala.train.oracle import oracle_movements
from hooked_impala.train.trainer import TrainConfig, Trainer

__all__ = ["TrainConfig", "Trainer", "oracle_movements"]
