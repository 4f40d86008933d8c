"""The YAML config contract, as every package imports it (`from pipeline import config as cfg`).

One config describes the data, the model inputs (features) and the predictions (tasks). Everything downstream
(Transform, trainer, Evaluator, serving) reads it through these records. They live in the TensorFlow-free core,
one job per file: pipeline/core/kinds.py (the task-kind table), config_base.py (strict records, ConfigError,
option tables), features.py, tasks.py, sections.py (data, model, training, evaluation, validation,
orchestration), config_schema.py (the whole Config, the data contract), keys.py (derived names: label / mask
keys, vocabulary files, safe names) and loading.py (YAML -> Config, errors naming the key path). This module
only gathers them under one name.
"""
from pipeline.core.config_base import (ARCHITECTURE_OPTIONS, ARCHITECTURES, DISTRIBUTIONS, ENCODER_OPTIONS,
                                        GRADIENT_SURGERIES, LOSS_WEIGHTINGS, NAME_PATTERN, OPTION_DEFAULTS,
                                        TEXT_ENCODERS, WEIGHTING_OPTIONS, ConfigError)
from pipeline.core.config_schema import (CardOwner, CardRisk, Config, DataContract, ModelCardInfo, data_contract,
                                        dependency_order, serving_dir)
from pipeline.core.features import (BINNED_ENCODINGS, DEFAULT_SUBWORDS, FEATURE_TYPES, MAX_SUBWORDS,
                                    NUMERIC_ENCODINGS, VOCABULARY_TYPES, CategoricalFeature, CrossFeature, Feature,
                                    NumericFeature, TextFeature, VectorFeature)
from pipeline.core.keys import (feature_vocab_name, label_key, label_vocab_name, mask_key, missing_key,
                                safe_name, subword_key)
from pipeline.core.kinds import (KINDS, LOWER_IS_BETTER, METRIC_RANGES, NO_DIRECTION, PER_CLASS_METRICS, TASK_METRICS,
                                 TASK_TYPES, TaskKind, kind)
from pipeline.core.loading import load_config, parse_config
from pipeline.core.sections import (Data, DistributionBounds, Evaluation, Fairness, Inference, Model, Orchestration,
                                    Training, Validation, data_format, eval_hash_buckets, is_uri)
from pipeline.core.tasks import FALSE_STRINGS, TRUE_STRINGS, BinaryRoles, Task, TaskSpace, Threshold, space_text

__all__ = [name for name in dir() if not name.startswith("__")]
