"""The interpreter: per-pixel classifiers on a StyleGAN2 generator's feature taps (DatasetGAN).

- :class:`FeatureBuffer`: every tap resampled into its channel slice of a preallocated [N, C, H, W]
  buffer (the exact reference path, and raw features for whoever wants them);
- :class:`FusedLabeller` (default): the same labels without materialising that buffer;
- :class:`PixelEnsemble`: M DatasetGAN pixel classifiers as one batched module;
- :func:`train_interpreter`: training from PNG masks paired with W+ latents;
- :class:`Interpreter`: labels, probabilities, uncertainty, image scores; save / :func:`load_interpreter`;
- :func:`rank_candidates`: active learning.

Never imports prefect. See docs/interpreter.md.
"""

from datasetgan.interpreter.active import Candidate, rank_candidates
from datasetgan.interpreter.annotations import (
    IGNORE,
    Annotation,
    AnnotationSet,
    latents_from_store,
    load_annotations,
    pair_latents,
    read_class_names,
)
from datasetgan.interpreter.config import AnnotationConfig, EnsembleConfig, FeatureConfig
from datasetgan.interpreter.ensemble import FoldedEnsemble, PixelEnsemble
from datasetgan.interpreter.errors import (
    AnnotationError,
    GeneratorMismatchError,
    InterpreterError,
    InterpreterFormatError,
    TrainingError,
)
from datasetgan.interpreter.features import FeatureBuffer
from datasetgan.interpreter.fused import FusedLabeller
from datasetgan.interpreter.labelling import label_buffer, reference_label
from datasetgan.interpreter.model import Interpreter, check_generator, load_interpreter
from datasetgan.interpreter.predict import LabelResult, image_scores, summarize_members
from datasetgan.interpreter.resample import TapGrid, gather_pixels
from datasetgan.interpreter.training import (
    TrainConfig,
    TrainProgress,
    TrainReport,
    train_interpreter,
)
from datasetgan.interpreter.validation import ValidationScores, score_images

__all__ = [
    "IGNORE",
    "Annotation",
    "AnnotationConfig",
    "AnnotationError",
    "AnnotationSet",
    "Candidate",
    "EnsembleConfig",
    "FeatureBuffer",
    "FeatureConfig",
    "FoldedEnsemble",
    "FusedLabeller",
    "GeneratorMismatchError",
    "Interpreter",
    "InterpreterError",
    "InterpreterFormatError",
    "LabelResult",
    "PixelEnsemble",
    "TapGrid",
    "TrainConfig",
    "TrainProgress",
    "TrainReport",
    "TrainingError",
    "ValidationScores",
    "check_generator",
    "gather_pixels",
    "image_scores",
    "label_buffer",
    "latents_from_store",
    "load_annotations",
    "load_interpreter",
    "pair_latents",
    "rank_candidates",
    "read_class_names",
    "reference_label",
    "score_images",
    "summarize_members",
    "train_interpreter",
]
