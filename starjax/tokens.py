"""StarCoder's token contract, defined once: the special tokens and their ids, EOS, the
fill-in-the-middle layouts, the metadata tags, and the names of the decoder's batch features.

The data's FIM transform (TensorFlow strings) and inference's infill prompts (Python strings)
both lay out FIM examples with `fim_parts`, so training and inference cannot drift apart.
"""

from __future__ import annotations

from typing import Sequence, TypeVar

# ids 0..18 in this order, as in StarCoder's tokenizer.json.
SPECIAL_TOKENS = (
    "<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<filename>",
    "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>",
    "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<empty_output>", "<commit_before>",
    "<commit_msg>", "<commit_after>", "<reponame>")
ENDOFTEXT = "<|endoftext|>"
EOS_ID = 0  # StarCoder: bos = eos = <|endoftext|>
FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD = ("<fim_prefix>", "<fim_middle>", "<fim_suffix>",
                                               "<fim_pad>")
FIM_PREFIX_ID, FIM_MIDDLE_ID, FIM_SUFFIX_ID, FIM_PAD_ID = 1, 2, 3, 4
REPONAME, FILENAME, GH_STARS = "<reponame>", "<filename>", "<gh_stars>"
# StarCoder2's repository-level file separator: ends an infill like EOS where it exists.
FILE_SEP = "<file_sep>"

# seqio DecoderFeatureConverter's names: what a packed training batch holds.
DECODER_FEATURES = ("decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights",
                    "decoder_segment_ids", "decoder_positions")

Text = TypeVar("Text")  # str, or a tf.string tensor in the data pipeline


def fim_parts(prefix: Text, suffix: Text, middle: Text, *, spm: bool) -> Sequence[Text]:
  """The pieces of a FIM example, in order (join them):
  PSM `<fim_prefix>P<fim_suffix>S<fim_middle>M`; SPM (BigCode's variant)
  `<fim_prefix><fim_suffix>S<fim_middle>PM`. An inference prompt has an empty middle."""
  if spm:
    return (FIM_PREFIX, FIM_SUFFIX, suffix, FIM_MIDDLE, prefix, middle)
  return (FIM_PREFIX, prefix, FIM_SUFFIX, suffix, FIM_MIDDLE, middle)


def fim_prompt(prefix: str, suffix: str, *, spm: bool = False) -> str:
  """The prompt a model completes with the middle between `prefix` and `suffix`."""
  return "".join(fim_parts(prefix, suffix, "", spm=spm))
