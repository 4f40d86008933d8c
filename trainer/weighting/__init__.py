"""Loss-weighting registry (`training.loss_weighting`) and gradient surgery (`training.gradient_surgery`)."""
from trainer.weighting.base import Fixed, LossWeighting
from trainer.weighting.dwa import DWA
from trainer.weighting.gradnorm import GradNorm
from trainer.weighting.pcgrad import pcgrad
from trainer.weighting.uncertainty import Uncertainty

REGISTRY = {"fixed": Fixed, "uncertainty": Uncertainty, "gradnorm": GradNorm, "dwa": DWA}
SURGERIES = {"pcgrad": pcgrad}


def build_weighting(tasks, training) -> LossWeighting:
    return REGISTRY[training.loss_weighting](tasks, training)


__all__ = ["LossWeighting", "REGISTRY", "SURGERIES", "build_weighting"]
