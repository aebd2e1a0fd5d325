"""Code data for StarCoder-family models: corpora, tokenizer, seqio tasks and packed batches.

Data flow: parquet shards in The Stack's schema (downloaded, or the local corpus built from this
machine's permissively licensed source files) → seqio Task per language → token-weighted Mixture
→ metadata → FIM → tokenize + `<|endoftext|>` → packing (seqio DecoderFeatureConverter) → batches.

Light to import (no TensorFlow): this package registers its gin configurables
(`starjax.data.config`) and offers what the quickstart needs:

    corpus = ensure_local_corpus()               # build or reuse; returns the corpus directory
    tokenizer_json = ensure_tokenizer(4096)      # train or reuse; returns the tokenizer.json path
    # (both show tqdm progress bars on stderr; pass progress=False to silence them)

The TensorFlow/seqio side is imported on demand:

    from starjax.data import loader
    batches = loader.train_batches("local_code", seq_len=256, batch_size=8, seed=0)
    val = loader.validation_batches("local_code", seq_len=256, batch_size=8, num_batches=4)
    loader.vocab_size("local_code")

Task names: `local_<language>`, `stack_<language>`; mixtures `local_code`, `stack_starcoderdata`,
`python_finetune` (see `starjax.data.tasks`). Gin knobs: `data_paths`, `local_corpus`,
`local_tokenizer`, `code_preprocessing`, `mixture_weighting`, `stack_splits`, `python_finetune`
(see `starjax.data.config`). Command line: `python run.py data build-local|stats|show`.
"""

from starjax.data.config import data_paths  # noqa: F401  (registers the gin configurables)
from starjax.data.errors import DataError  # noqa: F401
from starjax.data.local_corpus import ensure_local_corpus  # noqa: F401
from starjax.data.tokenizer import (EOS_ID, SPECIAL_TOKENS, ensure_tokenizer,  # noqa: F401
                                    load_tokenizer)
