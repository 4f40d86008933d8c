"""Hard parameter sharing (Caruana 1997): one shared MLP, then one MLP tower per task."""
from trainer.architectures.base import Architecture, apply, dense_stack


class SharedBottom(Architecture):
    def towers(self, shared_input, task_names):
        bottom = apply(dense_stack(self.config.shared_units, "shared", self.config.dropout), shared_input)
        return {name: apply(dense_stack(self.config.tower_units, f"{name}_tower", self.config.dropout), bottom)
                for name in task_names}
