"""ESMM (Ma et al., SIGIR 2018, "Entire Space Multi-Task Model"): each task its own MLP (`shared_units`, then
`tower_units`) on the shared input embeddings; a product task (`tasks.X.product_of`, e.g. pCTCVR = pCTR x pCVR)
ties them together. A factor task with a task space (`where`, e.g. CVR on clicked rows) is trained only through
the product over the entire space, which is ESMM's answer to sample-selection bias and data sparsity: the loss
is CTR + CTCVR on every impression, and pCVR is still served and evaluated on its own space."""
from typing import Dict, Set

from pipeline import config as cfg
from trainer.architectures.base import Architecture, apply


class ESMM(Architecture):
    def towers(self, shared_input, task_names):
        return {name: self.tower(name, apply(self.dense_stack(self.config.shared_units, f"{name}_mlp", name),
                                             shared_input)) for name in task_names}

    def untrained_tasks(self) -> Set[str]:
        return through_products(self.tasks)


def through_products(tasks: Dict[str, cfg.Task]) -> Set[str]:
    """Factor tasks of a product that have a task space: ESMM trains them only through the product."""
    factors = {f for task in tasks.values() for f in task.product_of or []}
    return {name for name in factors if tasks[name].where is not None}
