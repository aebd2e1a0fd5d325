"""Packing with seqio's DecoderFeatureConverter when EOS is token 0.

seqio treats id 0 as padding everywhere: its packer measures an example by counting non-zero
tokens and its loss weights are `targets != 0`. StarCoder's `<|endoftext|>` is id 0, so used as is
the EOS of every document would be dropped from packed rows. We therefore run seqio's converter
on ids shifted by +1 (no real token is 0 there, BOS becomes 1) and shift back afterwards, taking
padding from the segment ids. The output is exactly DecoderFeatureConverter's, in StarCoder's ids.
"""

from __future__ import annotations

from typing import Mapping

import seqio
import tensorflow as tf

from starjax.data import tokenizer as tokenizer_lib
from starjax.tokens import DECODER_FEATURES

MODEL_FEATURES = DECODER_FEATURES


class EosZeroDecoderFeatureConverter(seqio.DecoderFeatureConverter):
  """`seqio.DecoderFeatureConverter` for vocabularies whose EOS (and BOS) is id 0.

  Each packed row gets `decoder_input_tokens` (targets shifted right within each segment, each
  segment starting with `<|endoftext|>`), `decoder_target_tokens`, `decoder_loss_weights` (1 on
  every real token, EOS included; 0 on padding), `decoder_segment_ids` (1, 2, ... per document
  piece, 0 for padding) and `decoder_positions` (restarting at 0 per segment); all int32 [length].
  """

  def __init__(self, pack: bool = True):
    super().__init__(pack=pack, bos_id=tokenizer_lib.EOS_ID + 1)

  def __call__(self, ds: tf.data.Dataset,
               task_feature_lengths: Mapping[str, int]) -> tf.data.Dataset:
    shifted = ds.map(lambda x: {**x, "targets": x["targets"] + 1},
                     num_parallel_calls=tf.data.AUTOTUNE)
    converted = super().__call__(shifted, task_feature_lengths)
    return converted.map(self._unshift, num_parallel_calls=tf.data.AUTOTUNE)

  def _unshift(self, features):
    real = features["decoder_loss_weights"] > 0  # targets+1 != 0 ⇔ a real token
    out = dict(features)
    for key in ("decoder_input_tokens", "decoder_target_tokens"):
      out[key] = tf.where(real, features[key] - 1, tf.zeros_like(features[key]))
    out["decoder_loss_weights"] = tf.cast(real, tf.int32)
    return out
