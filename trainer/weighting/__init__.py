"""Loss-weighting registry: `training.loss_weighting` in the config names one of these."""
from trainer.weighting.base import Fixed, LossWeighting

REGISTRY = {"fixed": Fixed}


def build_weighting(name: str, task_weights):
    return REGISTRY[name](task_weights)


__all__ = ["Fixed", "LossWeighting", "REGISTRY", "build_weighting"]
