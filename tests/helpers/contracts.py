"""A model contract with every task type and feature kind (serving contract and fuzz tests)."""
from serving.contract import ModelContract

CONTRACT = ModelContract.from_dict(dict(
    name="support",
    features={"message": {"type": "text", "kind": "bytes", "required": True},
              "channel": {"type": "categorical", "kind": "bytes", "required": False},
              "hour": {"type": "categorical", "kind": "int", "required": True},
              "age": {"type": "numeric", "kind": "float", "required": False}},
    tasks={"intent": {"type": "multiclass", "scores": "intent", "label": "intent_label",
                      "classes": ["refund", "delivery", "account"]},
           "keywords": {"type": "multilabel", "scores": "keywords", "label": "keywords_label",
                        "classes": ["order", "refund"], "separator": "|"},
           "escalate": {"type": "binary", "scores": "escalate", "label": "escalate_label", "classes": ["0", "1"]},
           "minutes": {"type": "regression", "scores": "minutes"}}))
