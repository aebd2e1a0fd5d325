import pytest

from starjax.data.errors import DataError
from starjax.data.mixing import mixture_rates


def test_rates_are_proportional_to_tokens():
  rates = mixture_rates({"a": 300, "b": 100})
  assert rates == pytest.approx({"a": 0.75, "b": 0.25})


def test_alpha_flattens_the_distribution():
  rates = mixture_rates({"a": 900, "b": 100}, alpha=0.5)
  assert rates == pytest.approx({"a": 0.75, "b": 0.25})


def test_cap_redistributes_the_excess_in_proportion():
  rates = mixture_rates({"a": 800, "b": 150, "c": 50}, cap=0.5)
  assert rates["a"] == pytest.approx(0.5)
  assert rates["b"] == pytest.approx(0.375)
  assert rates["c"] == pytest.approx(0.125)
  assert sum(rates.values()) == pytest.approx(1.0)


def test_cap_is_applied_repeatedly():
  rates = mixture_rates({"a": 1000, "b": 1000, "c": 10, "d": 10}, cap=0.3)
  assert max(rates.values()) <= 0.3 + 1e-9
  assert sum(rates.values()) == pytest.approx(1.0)


def test_impossible_cap_is_an_error():
  with pytest.raises(DataError, match="too small"):
    mixture_rates({"a": 1, "b": 1, "c": 1}, cap=0.2)


def test_a_task_without_tokens_is_an_error():
  with pytest.raises(DataError, match="without tokens"):
    mixture_rates({"a": 10, "b": 0})
