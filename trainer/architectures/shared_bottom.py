"""Hard parameter sharing (Caruana 1997): one shared MLP, then one MLP tower per task."""
from trainer.architectures.base import Architecture, apply, last_dense


class SharedBottom(Architecture):
    def bottom(self, shared_input):
        layers = self.dense_stack(self.config.shared_units, "shared")
        self.last_shared_layers = [last_dense(layers)]
        return apply(layers, shared_input)

    def towers(self, shared_input, task_names):
        bottom = self.bottom(shared_input)
        return {name: self.tower(name, bottom) for name in task_names}
