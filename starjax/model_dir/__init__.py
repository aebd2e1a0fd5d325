"""MODEL_DIR: the one owner of a run directory's layout, its orbax checkpoints, the
compatibility of a checkpoint with a model config, restoring parameters onto shardings,
the tokenizer it carries, and the low-memory writer conversion uses.

Training, inference, conversion and evaluation all reach a MODEL_DIR through this package;
it depends only on starjax.model (below train/infer/convert/eval).
"""

from starjax.model_dir.checkpointer import (  # noqa: F401
    CheckpointConfig, Checkpointer, CheckpointCorruptError, CheckpointMismatchError, abstract_params, check_compatible,
    json_safe, model_config_from_checkpoint, restore_params)
from starjax.model_dir.layout import (  # noqa: F401
    CONFIG_GIN, TOKENIZER, ModelDirError, checkpoint_dir, config_gin_path, eval_dir,
    metrics_path, report_path, tensorboard_dir, tokenizer_path)
from starjax.model_dir.tokenizer import install_tokenizer  # noqa: F401
