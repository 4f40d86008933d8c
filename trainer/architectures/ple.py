"""Progressive Layered Extraction (Tang et al., RecSys 2020).

Each extraction level has `shared_experts` shared experts and `task_experts` experts per task. A task's gate
mixes its own experts and the shared ones; below the top level a shared gate mixes every expert into the
shared path's next input. `ple` stacks `levels` levels; `cgc` (Customized Gate Control) is a single level.
"""
from trainer.architectures.base import Architecture


class PLE(Architecture):
    def levels(self) -> int:
        return self.config.setting("levels")

    def towers(self, shared_input, task_names):
        task_inputs = {name: shared_input for name in task_names}
        shared = shared_input
        top = self.levels() - 1
        for level in range(self.levels()):
            own = {name: [self.expert(f"{name}_expert_{level}_{k}", task_inputs[name], name)
                          for k in range(self.config.setting("task_experts"))] for name in task_names}
            common = [self.expert(f"shared_expert_{level}_{k}", shared, last_shared=level == top)
                      for k in range(self.config.setting("shared_experts"))]
            next_inputs = {name: self.gate(f"{name}_gate_{level}", task_inputs[name], own[name] + common, name)
                           for name in task_names}
            if level < top:
                everything = [e for name in task_names for e in own[name]] + common
                shared = self.gate(f"shared_gate_{level}", shared, everything)
            task_inputs = next_inputs
        return {name: self.tower(name, task_inputs[name]) for name in task_names}


class CGC(PLE):
    def levels(self) -> int:
        return 1
