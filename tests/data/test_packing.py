import numpy as np
import tensorflow as tf

from starjax.data.packing import MODEL_FEATURES, EosZeroDecoderFeatureConverter

DOCS = [[5, 6, 7, 0], [8, 0], [9, 10, 11, 12, 13, 0], [3, 0]]


def packed(docs, length):
  ds = tf.data.Dataset.from_generator(lambda: ({"targets": np.array(d, np.int32)} for d in docs),
                                      output_signature={"targets": tf.TensorSpec([None],
                                                                                 tf.int32)})
  return list(EosZeroDecoderFeatureConverter(pack=True)(ds, {"targets": length})
              .as_numpy_iterator())


def test_eos_tokens_survive_packing_with_loss_weight():
  rows = packed(DOCS, 8)
  targets = np.concatenate([r["decoder_target_tokens"][r["decoder_segment_ids"] > 0]
                            for r in rows])
  assert targets.tolist() == sum(DOCS, [])  # every token, every EOS, in order
  for r in rows:
    assert (r["decoder_loss_weights"] == (r["decoder_segment_ids"] > 0)).all()


def test_rows_have_segments_positions_and_padding():
  first = packed(DOCS, 8)[0]
  assert first["decoder_target_tokens"].tolist() == [5, 6, 7, 0, 8, 0, 0, 0]
  assert first["decoder_segment_ids"].tolist() == [1, 1, 1, 1, 2, 2, 0, 0]
  assert first["decoder_positions"].tolist() == [0, 1, 2, 3, 0, 1, 0, 0]
  assert first["decoder_loss_weights"].tolist() == [1, 1, 1, 1, 1, 1, 0, 0]


def test_inputs_are_targets_shifted_within_each_segment_starting_with_eos():
  first = packed(DOCS, 8)[0]
  assert first["decoder_input_tokens"].tolist() == [0, 5, 6, 7, 0, 8, 0, 0]


def test_all_features_are_int32_of_the_row_length():
  for row in packed(DOCS, 8):
    assert sorted(row) == sorted(MODEL_FEATURES)
    assert all(v.dtype == np.int32 and v.shape == (8,) for v in row.values())
