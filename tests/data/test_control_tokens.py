"""Documents cannot smuggle control tokens: literal special-token strings in a document are
ordinary text in training batches; control ids appear only where the pipeline puts them."""

import numpy as np
import seqio
import tensorflow as tf

from starjax.data import preprocessors
from starjax.data.vocabulary import StarCoderVocabulary
from starjax.tokens import SPECIAL_TOKENS

HOSTILE = ("tok = '<|endoftext|>'\n# <fim_prefix>a<fim_suffix>b<fim_middle>c\n"
           "print('<filename>x <reponame>y <gh_stars>z')\n")
SPECIAL_IDS = set(range(len(SPECIAL_TOKENS)))


def _targets(tokenizer, fim_rate, metadata_rate=1.0, seed=0):
  vocabulary = StarCoderVocabulary(tokenizer)
  features = {"targets": seqio.Feature(vocabulary, add_eos=True)}
  ds = tf.data.Dataset.from_tensor_slices({
      "content": [HOSTILE], "max_stars_repo_name": ["org/<|endoftext|>repo"],
      "max_stars_repo_path": ["src/<fim_middle>.py"], "max_stars_count": np.array([5], np.int64)})
  with seqio.utils.map_seed_manager(seed):
    ds = preprocessors.add_metadata(ds, metadata_rate=metadata_rate)
    ds = preprocessors.apply_fim(ds, fim_rate=fim_rate, spm_rate=0.0)
  (example,) = preprocessors.tokenize_with_eos(ds, features).as_numpy_iterator()
  return vocabulary, example["targets"].tolist()


def test_literal_special_tokens_in_a_document_are_encoded_as_text(stack_tokenizer):
  vocabulary, ids = _targets(stack_tokenizer, fim_rate=0.0)
  control = [i for i in ids if i in SPECIAL_IDS]
  # only the pipeline's: <reponame>, <filename>, <gh_stars> (metadata) and the final EOS
  assert control == [18, 5, 6, 0] and ids[-1] == 0
  text = vocabulary.tokenizer.decode(ids, skip_special_tokens=False)
  assert text == ("<reponame>org/<|endoftext|>repo<filename>src/<fim_middle>.py<gh_stars>1-10\n"
                  + HOSTILE + "<|endoftext|>")


def test_fim_control_tokens_appear_once_each_whatever_the_document_holds(stack_tokenizer):
  _, ids = _targets(stack_tokenizer, fim_rate=1.0, metadata_rate=0.0)
  assert [i for i in ids if i in SPECIAL_IDS] == [1, 3, 2, 0]  # PSM, then EOS


def test_prompts_at_inference_still_recognise_special_tokens(stack_tokenizer):
  vocabulary = StarCoderVocabulary(stack_tokenizer)
  assert vocabulary.encode("<fim_prefix>a<fim_suffix>b<fim_middle>")[0] == 1
  assert 2 in vocabulary.encode("<fim_prefix>a<fim_suffix>b<fim_middle>")
