"""Architectures registry: `model.architecture` in the config names one of these."""
from trainer.architectures.base import Architecture, build_architecture
from trainer.architectures.shared_bottom import SharedBottom

REGISTRY = {"shared_bottom": SharedBottom}

__all__ = ["Architecture", "REGISTRY", "build_architecture", "SharedBottom"]
