"""Architectures registry: `model.architecture` in the config names one of these."""
from trainer.architectures.aitm import AITM
from trainer.architectures.base import Architecture, build_architecture
from trainer.architectures.cross_stitch import CrossStitch
from trainer.architectures.esmm import ESMM
from trainer.architectures.hierarchical import Hierarchical
from trainer.architectures.mmoe import MMoE
from trainer.architectures.ple import CGC, PLE
from trainer.architectures.shared_bottom import SharedBottom

REGISTRY = {"shared_bottom": SharedBottom, "mmoe": MMoE, "ple": PLE, "cgc": CGC, "cross_stitch": CrossStitch,
            "hierarchical": Hierarchical, "esmm": ESMM, "aitm": AITM}

__all__ = ["Architecture", "REGISTRY", "build_architecture"]
