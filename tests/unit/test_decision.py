"""decision.py: a classifier's outputs re-weighted between balanced classes (α 0) and the class frequencies (α 1) —
a class-weighted network's toward the frequencies, one trained on the rows as they are toward balanced classes — α
chosen on held-out outputs by the headline metric, and carried by the network's output biases."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, log_loss

from autotune.decision import ALPHAS, bias_shift, choose, describe, reference, shifted, untested
from autotune.modality import class_weights


def rare_class(rows: int, seed: int):
    """Six features, a class of ~5% whose odds the first two carry weakly (lending_club's shape)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6))
    y = (rng.random(rows) < 1 / (1 + np.exp(3.5 - x[:, 0] - 0.5 * x[:, 1]))).astype(int)
    return x, y


def weighted_logistic():
    """A class-weighted logistic regression's outputs on validation and test rows it never saw, and its weights."""
    x, y = rare_class(12000, 0)
    weights = class_weights(y[:4000], 2)
    model = LogisticRegression().fit(x[:4000], y[:4000], sample_weight=[weights[c] for c in y[:4000]])
    return weights, (y[4000:8000], model.predict_proba(x[4000:8000])), (y[8000:], model.predict_proba(x[8000:]))


def unweighted_logistic():
    """The same rows' logistic regression trained on them as they are (--balance adjust), and their class weights."""
    x, y = rare_class(12000, 0)
    model = LogisticRegression().fit(x[:4000], y[:4000])
    return (class_weights(y[:4000], 2), (y[4000:8000], model.predict_proba(x[4000:8000])),
            (y[8000:], model.predict_proba(x[8000:])))


def test_shifted_outputs_are_the_softmax_of_the_logits_plus_the_shift():
    logits = np.random.default_rng(0).normal(size=(50, 4)) * 3
    shift = np.array([0.5, -1.0, 2.0, 0.0])

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    np.testing.assert_allclose(shifted(softmax(logits), shift), softmax(logits + shift), rtol=1e-10)
    np.testing.assert_allclose(shifted(softmax(logits), np.zeros(4)), softmax(logits), rtol=1e-12)


def test_alpha_one_undoes_the_class_weights():
    """p × w^-1 with balanced weights w_c = n / (k n_c) is p × n_c up to a constant: the training frequencies back."""
    weights = {0: 10000 / (2 * 9500), 1: 10000 / (2 * 500)}
    balanced = np.array([[0.5, 0.5]])
    np.testing.assert_allclose(shifted(balanced, bias_shift(weights, 2, 1.0)), [[0.95, 0.05]])
    np.testing.assert_allclose(bias_shift(weights, 2, 0.0), [0.0, 0.0])


def test_a_network_trained_on_the_rows_as_they_are_is_at_alpha_one_and_alpha_zero_balances_it():
    """trained=1 (--balance adjust): the outputs as trained carry the frequencies (α 1: no shift); α 0 is p × w, the
    classes balanced, as a class-weighted network's outputs as trained are."""
    weights = {0: 10000 / (2 * 9500), 1: 10000 / (2 * 500)}
    frequencies = np.array([[0.95, 0.05]])
    np.testing.assert_allclose(shifted(frequencies, bias_shift(weights, 2, 0.0, trained=1.0)), [[0.5, 0.5]])
    np.testing.assert_allclose(bias_shift(weights, 2, 1.0, trained=1.0), [0.0, 0.0])
    np.testing.assert_allclose(bias_shift(weights, 2, 0.3, trained=1.0), bias_shift(weights, 2, 0.3) - bias_shift(
        weights, 2, 1.0))


def test_the_shift_chosen_for_a_model_trained_on_the_rows_as_they_are_holds_on_test_rows():
    """An unweighted model rarely calls the rare class (macro-F1 below balanced outputs'); the α chosen on validation
    rows moves it toward balanced classes and beats its outputs as trained there and on test rows it never saw. The
    reference the gain is tested against is still α 0, the balanced decision."""
    weights, (y_val, p_val), (y_test, p_test) = unweighted_logistic()
    decision = choose("f1_macro", y_val, [p_val], weights, trained_alpha=1.0)
    assert decision.trained_alpha == 1.0 and decision.alpha < 1
    shift = np.array(decision.bias_shift)
    np.testing.assert_allclose(shift, bias_shift(weights, 2, decision.alpha, trained=1.0))
    assert decision.chosen == pytest.approx(f1_score(y_val, shifted(p_val, shift).argmax(axis=1), average="macro"))
    balanced = shifted(p_val, bias_shift(weights, 2, 0.0, trained=1.0))
    assert decision.balanced == pytest.approx(f1_score(y_val, balanced.argmax(axis=1), average="macro"))
    as_trained = f1_score(y_test, p_test.argmax(axis=1), average="macro")
    assert f1_score(y_test, shifted(p_test, shift).argmax(axis=1), average="macro") > as_trained + 0.03
    assert (shifted(p_test, shift).argmax(axis=1) == 1).mean() > (p_test.argmax(axis=1) == 1).mean()


def test_the_chosen_reweighting_is_the_best_on_validation_and_holds_on_test_rows():
    """A class-weighted model calls too many rows the rare class; α chosen on validation rows by macro-F1 scores what
    it says there, beats the model as trained there and on test rows it never saw."""
    weights, (y_val, p_val), (y_test, p_test) = weighted_logistic()
    decision = choose("f1_macro", y_val, [p_val], weights)
    assert 0 < decision.alpha < 1 and decision.rows == 4000 and decision.members == 1
    shift = np.array(decision.bias_shift)
    assert decision.chosen == pytest.approx(f1_score(y_val, shifted(p_val, shift).argmax(axis=1), average="macro"))
    assert decision.balanced == pytest.approx(f1_score(y_val, p_val.argmax(axis=1), average="macro"))
    for alpha in ALPHAS:  # none scores better on validation
        other = shifted(p_val, bias_shift(weights, 2, alpha)).argmax(axis=1)
        assert f1_score(y_val, other, average="macro") <= decision.chosen + 1e-12
    assert decision.chosen > decision.balanced + 0.03
    test_before = f1_score(y_test, p_test.argmax(axis=1), average="macro")
    test_after = f1_score(y_test, shifted(p_test, shift).argmax(axis=1), average="macro")
    assert test_after > test_before + 0.03
    assert (shifted(p_test, shift).argmax(axis=1) == 1).mean() < (p_test.argmax(axis=1) == 1).mean()


def test_a_metric_lower_is_better_and_ties_go_to_the_model_as_trained():
    weights, (y_val, p_val), _ = weighted_logistic()
    by_loss = choose("log_loss", y_val, [p_val], weights)
    assert by_loss.chosen < by_loss.balanced == pytest.approx(log_loss(y_val, p_val))
    assert by_loss.alpha >= 0.8  # the log loss wants the frequencies back: calibrated probabilities
    sure = np.eye(2)[y_val]  # outputs so sure that no re-weighting in the family moves a decision
    assert choose("f1_macro", y_val, [sure], weights).alpha == 0.0


def test_an_ensemble_is_scored_as_it_is_exported_each_member_reweighted_then_averaged():
    weights, (y_val, p_val), _ = weighted_logistic()
    other = np.clip(p_val ** 0.7, 1e-6, None)
    other /= other.sum(axis=1, keepdims=True)
    decision = choose("f1_macro", y_val, [p_val, other], weights)
    shift = np.array(decision.bias_shift)
    averaged = (shifted(p_val, shift) + shifted(other, shift)) / 2
    assert decision.members == 2
    assert decision.chosen == pytest.approx(f1_score(y_val, averaged.argmax(axis=1), average="macro"))



def clearer_signal(weighted: bool):
    """~9% of rows in the rare class, the first feature a clear signal: a logistic regression (class-weighted, or on
    the rows as they are) and its outputs on 4,000 validation rows."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12000, 6))
    y = (rng.random(12000) < 1 / (1 + np.exp(13.5 - 10 * x[:, 0]))).astype(int)
    weights = class_weights(y[:4000], 2)
    model = LogisticRegression().fit(x[:4000], y[:4000], sample_weight=[weights[c] for c in y[:4000]] if weighted
                                     else None)
    return weights, (y[4000:8000], model.predict_proba(x[4000:8000]))


def test_a_gain_within_noise_keeps_the_model_as_trained():
    """A clearer signal (~9% of rows in the rare class): on 150 validation rows the best α's gain is within the paired
    bootstrap's noise, so α 0 and the outputs as trained; on 4,000 rows of the same model the gain is beyond it."""
    weights, (y_val, p_val) = clearer_signal(weighted=True)
    large = choose("f1_macro", y_val, [p_val], weights)
    assert large.alpha == large.best_alpha > 0 and large.evidence["decision"] == "better"
    assert large.evidence["interval"][0] > 0 and large.chosen > large.balanced
    small = choose("f1_macro", y_val[:150], [p_val[:150]], weights)
    assert small.best_alpha > 0 and small.evidence["decision"] == "tied" and small.evidence["difference"] > 0
    assert small.alpha == small.reference == 0.0 and small.chosen == small.balanced and small.bias_shift == [0.0, 0.0]


def test_where_the_rows_cannot_tell_a_network_trained_on_the_rows_as_they_are_goes_halfway_to_balanced_classes():
    """trained_alpha 1 (--balance adjust): where no α beats balanced classes beyond noise on the validation rows — the
    best α's gain within noise, or balanced classes themselves the best — the outputs take the reference α ½, halfway
    between the network as trained and balanced classes (p × w^½), not either end; with no validation outputs too.
    A class-weighted network's reference is itself (α 0, nothing shifted)."""
    assert reference(1.0) == 0.5 and reference(0.0) == 0.0
    weights, (y_val, p_val) = clearer_signal(weighted=False)
    half = bias_shift(weights, 2, 0.5, trained=1.0)
    small = choose("f1_macro", y_val[:150], [p_val[:150]], weights, trained_alpha=1.0)
    assert small.best_alpha not in (0.0, 0.5) and small.evidence["decision"] == "tied"
    assert small.alpha == small.reference == 0.5 and small.bias_shift == pytest.approx(half)
    assert small.chosen == pytest.approx(f1_score(y_val[:150], shifted(p_val[:150], half).argmax(axis=1),
                                                  average="macro"))
    sure = np.eye(2)[y_val]  # every α scores the same: the best is α 0 itself, with nothing to test
    level = choose("f1_macro", y_val, [sure], weights, trained_alpha=1.0)
    assert level.best_alpha == 0.0 and level.evidence is None and level.alpha == 0.5
    assert level.bias_shift == pytest.approx(half)
    assert "no re-weighting beat balanced classes (α 0)" in describe(level.to_dict())
    large = choose("f1_macro", y_val, [p_val], weights, trained_alpha=1.0)  # 4,000 rows: the best beyond noise
    assert large.evidence["decision"] == "better" and large.alpha == large.best_alpha == 0.8
    blind = untested("f1_macro", weights, 2, 3, 1.0)
    assert blind.alpha == blind.reference == 0.5 and blind.bias_shift == pytest.approx(half)
    assert blind.balanced is None and blind.rows == 0 and blind.members == 3


def test_the_rule_in_words_names_where_the_outputs_end_and_says_nothing_for_a_weighted_network_kept_at_balance():
    weights, (y_val, p_val), _ = weighted_logistic()
    moved = describe(choose("f1_macro", y_val, [p_val], weights).to_dict())
    assert moved.startswith("the class-weighted outputs are re-weighted to α ") and "4,000 rows" in moved
    sure = np.eye(2)[y_val]
    assert describe(choose("f1_macro", y_val, [sure], weights).to_dict()) is None
    assert describe(None) is None
    _, (y_val, p_val), _ = unweighted_logistic()
    for rows in (150, 4000):
        d = choose("f1_macro", y_val[:rows], [p_val[:rows]], weights, trained_alpha=1.0).to_dict()
        text = describe(d)
        assert text.startswith("the outputs (trained on the rows as they are) are ")
        assert ("shifted halfway to balanced classes (α 0.5," in text and "within noise" in text) if d[
            "best_alpha"] != d["alpha"] else f"re-weighted to α {d['alpha']:g} between" in text
    fallback = describe(untested("f1_macro", weights, 2, 3, 1.0).to_dict())
    assert "shifted halfway to balanced classes (α 0.5," in fallback and "no validation outputs" in fallback
    assert untested("f1_macro", weights, 2, 3, 0.0) is None  # a class-weighted network: at balanced classes already
