"""The tasks, by name (the `task` key of a config and of a run folder's `config.yaml`).

Each task is a typed config, a trainer (run folder in, metrics out) and an inference model (run
folder in, predictions out), registered here by name in the manner of timm's model registry.
Trainers and models are named by import path, so that reading this registry imports neither
training nor TensorFlow.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """A task: what it reads and predicts, and where its trainer and model live."""

    name: str
    subtask: int  # the SemEval-2021 Task 6 subtask whose files it reads
    techniques: str  # which technique list: "multimodal" (22) or "text" (20)
    needs_images: bool
    config: str  # "module:Class", the task's typed config
    trainer: str  # "module:function" (config, output_dir, verbose, reuse_finished) -> metrics
    model: str  # "module:Class" (run_dir) -> a model with predict / predict_memes
    description: str

    def load_config_type(self):
        return _resolve(self.config)

    def load_trainer(self):
        return _resolve(self.trainer)

    def load_model_class(self):
        return _resolve(self.model)


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {sorted(TASKS)}")
    return TASKS[name]


def _resolve(path: str):
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


register_task(
    Task(
        name="techniques",
        subtask=3,
        techniques="multimodal",
        needs_images=True,
        config="meme_keras.config.techniques_config:TechniquesConfig",
        trainer="meme_keras.training.classifier_run:run_classifier",
        model="meme_keras.inference.technique_model:TechniqueModel",
        description="subtask 3: meme text + image -> 22 techniques (multilabel)",
    )
)
register_task(
    Task(
        name="spans",
        subtask=2,
        techniques="text",
        needs_images=False,
        config="meme_keras.config.spans_config:SpansConfig",
        trainer="meme_keras.training.span_run:run_spans",
        model="meme_keras.inference.span_model:SpanModel",
        description="subtask 2: text -> character spans of 20 techniques",
    )
)
register_task(
    Task(
        name="text_techniques",
        subtask=1,
        techniques="text",
        needs_images=False,
        config="meme_keras.config.text_techniques_config:TextTechniquesConfig",
        trainer="meme_keras.training.classifier_run:run_classifier",
        model="meme_keras.inference.technique_model:TechniqueModel",
        description="subtask 1: meme text -> 20 techniques (multilabel)",
    )
)
