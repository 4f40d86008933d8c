"""Hierarchical towers on a shared bottom: a task's tower also reads the tower outputs of the tasks named in
its `after` list (e.g. CVR after CTR), built in dependency order."""
import tf_keras

from pipeline import config as cfg
from trainer.architectures.shared_bottom import SharedBottom


class Hierarchical(SharedBottom):
    def towers(self, shared_input, task_names):
        bottom = self.bottom(shared_input)
        order, cycle = cfg.dependency_order({n: self.tasks[n] for n in task_names})
        if cycle:
            raise ValueError(f"tasks' `after` lists form a cycle among {cycle}")
        outputs = {}
        for name in order:
            parents = [outputs[p] for p in self.tasks[name].after]
            x = tf_keras.layers.Concatenate(name=f"{name}_reads")([bottom, *parents]) if parents else bottom
            outputs[name] = self.tower(name, x)
        return {name: outputs[name] for name in task_names}
