"""Multi-gate Mixture-of-Experts (Ma et al., KDD 2018): `experts` shared expert MLPs, and per task a softmax
gate on the input that mixes them before the task's tower."""
from trainer.architectures.base import Architecture


class MMoE(Architecture):
    def towers(self, shared_input, task_names):
        experts = [self.expert(f"expert_{e}", shared_input, last_shared=True)
                   for e in range(self.config.setting("experts"))]
        return {name: self.tower(name, self.gate(f"{name}_gate", shared_input, experts, name))
                for name in task_names}
