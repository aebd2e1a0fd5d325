"""Incremental detokenisation and stop strings across token boundaries."""

from starjax.serve.text import IncrementalDetokenizer, StopMatcher


def test_detokenizer_never_splits_a_character(generator):
  text = "naïve café ✓ 日本語 🎉 done"
  ids = generator.encode(text)
  detok = IncrementalDetokenizer(generator.decode)
  pieces = [detok.push(i) for i in ids]
  pieces.append(detok.flush())
  assert "".join(pieces) == generator.decode(ids)
  assert not any("\ufffd" in p for p in pieces)


def test_stop_string_across_tokens_is_held_back():
  stops = StopMatcher(["\nclass ", "END"])
  assert stops.safe_length("x = 1\ncla") == len("x = 1")
  assert stops.safe_length("x = 1\n") == len("x = 1")
  assert stops.safe_length("x = 1") == len("x = 1")
  assert stops.safe_length("EN") == 0
  assert stops.find("x = 1\nclass Foo", since=6) == 5
  assert stops.find("x = 1", since=0) == -1
