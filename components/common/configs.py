"""One typed config per custom stage: what the compiler (pipelines/build/compiler.py) hands each
executor as its `config` execution parameter, and what the executor reads back with
`model_validate_json`. TF-free (pydantic only).

Each model is the spec's section (pipelines/spec/models.py: the only defaults there are) plus the
fields the compiler adds, which have no default: a field renamed on one side fails when the
pipeline is compiled (and in tests/test_stage_configs.py), not minutes into a Beam run.

"auto" is decided once: when the compiler reads the label (local data), it records the task, the
loss, the metrics, the output activation and the Evaluator's metrics and compare_metric in these
configs (TrainerSection.for_task, EvaluatorSection.for_task). When it cannot (data on an object
store, Parquet, TFRecord), they stay "auto": Batching infers the task with the same function
(components.common.features.infer_task) and the Trainer, Tuner and Evaluator apply the same
`for_task` to it.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from pipelines.spec.models import (
    BatchingSection,
    EvaluatorSection,
    PusherSection,
    TrainerSection,
    TunerSection,
    ValidationSection,
)

# the spec's types of the fields the compiler copies from another section
KeepVersions = PusherSection.model_fields["keep_versions"].annotation
Task = TrainerSection.model_fields["task"].annotation
Loss = TrainerSection.model_fields["loss"].annotation


class StageConfig(BaseModel):
    """Base of the configs that are not a spec section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class DestinationConfig(StageConfig):
    """SchemaGen (the serving model's schema) and ServingState: the push destination, resolved
    against the run root."""

    destination: str


class PusherConfig(StageConfig):
    """pusher: plus what the model card says (components/pusher/model_card.py): the pipeline's
    name, the spec's model_card: section and a summary of the trainer: section."""

    destination: str
    keep_versions: KeepVersions  # type: ignore[valid-type]
    name: str = ""
    model_card: dict = {}
    model: dict = {}  # architecture, loss, optimizer (the compiler's words)


class DataGateConfig(ValidationSection):
    """validation: plus the destination (the serving model's statistics are the drift reference)
    and data.exclude (excluded columns are not gated)."""

    destination: str
    exclude: list[str]


class BatchingConfig(BatchingSection):
    """batching: plus what the feature plan needs of data: and trainer:. `task_reason`: why the
    compiler inferred the task from the data (the plan's words), None when the spec set it or
    Batching infers it."""

    label: str
    exclude: list[str]
    task: Task  # type: ignore[valid-type]
    task_reason: str | None
    loss: Loss  # type: ignore[valid-type]
    validation_fraction: float
    drop_unlabeled: bool


class TrainerConfig(TrainerSection):
    """trainer: plus the batch layout and, with warm_start, the destination whose serving
    model's weights it starts from (None without warm_start)."""

    batch_size: int
    drop_remainder: bool
    destination: str | None


class TunerConfig(StageConfig):
    trainer: TrainerConfig
    tuner: TunerSection

    @property
    def trial_epochs(self) -> int:
        """The most epochs of one trial: tuner.epochs, by default trainer.max_epochs."""
        return self.tuner.epochs or self.trainer.max_epochs


EvaluatorConfig = EvaluatorSection

# component id -> its config model (the compiler's stages with a `config` parameter)
STAGE_CONFIGS: dict[str, type[BaseModel]] = {
    "SchemaGen": DestinationConfig, "DataGate": DataGateConfig, "Batching": BatchingConfig,
    "Tuner": TunerConfig, "Trainer": TrainerConfig, "ServingState": DestinationConfig,
    "Evaluator": EvaluatorConfig, "Pusher": PusherConfig,
}


def encode(model: type[BaseModel], values: dict) -> str:
    """The config JSON of `values`, validated against `model` as the executor will read it (a
    ValidationError names the field)."""
    return model.model_validate_json(json.dumps(values)).model_dump_json()
