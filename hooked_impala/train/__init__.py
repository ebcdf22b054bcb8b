"""Train IMPALA maze policies by imitating the shortest-path oracle (behaviour cloning,
then DAgger) on a controlled cheese distribution. ``python -m hooked_impala.train --help``."""

from hooked_impala.train.oracle import oracle_movements
from hooked_impala.train.trainer import TrainConfig, Trainer

__all__ = ["TrainConfig", "Trainer", "oracle_movements"]
