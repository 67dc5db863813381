"""The models' maths against the published values on the CDNOW sample, against simulated
customers whose parameters are known, and against themselves (weights)."""

from __future__ import annotations

import numpy as np
import pytest

from fidele.analytics import clv
from tests.analytics.cdnow import BGNBD, GAMMA_GAMMA, GAMMA_GAMMA_CUSTOMERS, summary_columns


@pytest.fixture(scope="module")
def cdnow():
    columns = summary_columns()
    return {key: np.array(values) for key, values in columns.items()}


def _close(value, expected, share=0.01):
    return abs(value - expected) <= share * abs(expected)


def test_the_bgnbd_likelihood_of_the_published_parameters_is_the_published_one(cdnow):
    value = clv.bgnbd_log_likelihood(
        r=BGNBD["r"], alpha=BGNBD["alpha"], a=BGNBD["a"], b=BGNBD["b"],
        x=cdnow["x"], t_x=cdnow["t_x"], big_t=cdnow["T"],
    )  # fmt: skip
    assert value == pytest.approx(BGNBD["log_likelihood"], abs=0.1)


def test_the_bgnbd_fit_on_the_cdnow_sample_finds_the_published_parameters(cdnow):
    model = clv.bgnbd_fit(x=cdnow["x"], t_x=cdnow["t_x"], big_t=cdnow["T"])
    for name in ("r", "alpha", "a", "b"):
        assert _close(getattr(model, name), BGNBD[name]), name
    assert model.log_likelihood == pytest.approx(BGNBD["log_likelihood"], abs=0.1)


def test_the_gamma_gamma_likelihood_and_fit_on_the_cdnow_sample_are_the_published_ones(cdnow):
    value = clv.gamma_gamma_log_likelihood(
        p=GAMMA_GAMMA["p"], q=GAMMA_GAMMA["q"], v=GAMMA_GAMMA["v"],
        x=cdnow["x"], zbar=cdnow["zbar"],
    )  # fmt: skip
    assert value == pytest.approx(GAMMA_GAMMA["log_likelihood"], abs=0.1)
    model = clv.gamma_gamma_fit(x=cdnow["x"], zbar=cdnow["zbar"])
    for name in ("p", "q", "v"):
        assert _close(getattr(model, name), GAMMA_GAMMA[name]), name
    assert model.log_likelihood == pytest.approx(GAMMA_GAMMA["log_likelihood"], abs=0.1)
    assert model.customers == GAMMA_GAMMA_CUSTOMERS


def test_the_expected_purchases_of_the_papers_example_customer_are_the_papers():
    # Fader, Hardie & Lee (2005), section 5: x = 2, t_x = 30.43, T = 38.86 weeks -> 1.226
    # purchases expected in the next 39 weeks.
    model = clv.BgNbd(BGNBD["r"], BGNBD["alpha"], BGNBD["a"], BGNBD["b"], 0.0)
    value = clv.expected_purchases(
        model, t=39, x=np.array([2.0]), t_x=np.array([30.43]), big_t=np.array([38.86])
    )
    assert value[0] == pytest.approx(1.226, abs=0.001)


def test_a_fit_recovers_the_parameters_customers_were_simulated_with():
    rng = np.random.default_rng(7)
    big_t = rng.uniform(30, 52, 60_000)
    truth = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    x, t_x = clv.bgnbd_simulate(**truth, big_t=big_t, seed=11)
    model = clv.bgnbd_fit(x=x, t_x=t_x, big_t=big_t)
    for name, value in truth.items():
        assert _close(getattr(model, name), value, share=0.1), name
    spend_truth = {"p": 6.0, "q": 4.0, "v": 15.0}
    zbar = clv.gamma_gamma_simulate(**spend_truth, x=x, seed=12)
    spend = clv.gamma_gamma_fit(x=x, zbar=zbar)
    for name, value in spend_truth.items():
        assert _close(getattr(spend, name), value, share=0.15), name


def test_weighted_rows_give_the_same_fit_as_one_row_per_customer(cdnow):
    weighted = clv.bgnbd_fit(x=cdnow["x"], t_x=cdnow["t_x"], big_t=cdnow["T"])
    unweighted = clv.bgnbd_fit(x=cdnow["x"], t_x=cdnow["t_x"], big_t=cdnow["T"], collapse=False)
    assert weighted.log_likelihood == pytest.approx(unweighted.log_likelihood, abs=1e-3)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(weighted, name) == pytest.approx(getattr(unweighted, name), rel=1e-3)
    x, t_x, big_t, weights = clv.rows_collapse(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert len(x) < len(cdnow["x"]) and weights.sum() == len(cdnow["x"])
    params = {"r": 0.3, "alpha": 5.0, "a": 0.9, "b": 2.0}
    assert clv.bgnbd_log_likelihood(
        **params, x=x, t_x=t_x, big_t=big_t, weights=weights
    ) == pytest.approx(
        clv.bgnbd_log_likelihood(**params, x=cdnow["x"], t_x=cdnow["t_x"], big_t=cdnow["T"])
    )


def test_repeat_customers_whose_purchases_are_worth_nothing_are_left_out_of_gamma_gamma(cdnow):
    x = np.concatenate([cdnow["x"], [3.0, 1.0]])
    zbar = np.concatenate([cdnow["zbar"], [0.0, 0.0]])
    model = clv.gamma_gamma_fit(x=x, zbar=zbar)
    assert model.left_out == 2
    assert model.customers == GAMMA_GAMMA_CUSTOMERS
    assert _close(model.p, GAMMA_GAMMA["p"])


def test_a_customer_without_repeat_purchase_is_alive_and_a_long_silent_one_is_not():
    model = clv.BgNbd(BGNBD["r"], BGNBD["alpha"], BGNBD["a"], BGNBD["b"], 0.0)
    alive = clv.probability_alive(
        model, x=np.array([0.0, 5.0, 5.0]), t_x=np.array([0.0, 38.0, 5.0]),
        big_t=np.array([38.0, 38.0, 38.0]),
    )  # fmt: skip
    assert alive[0] == 1.0
    assert alive[1] > 0.8 > 0.1 > alive[2]


def test_the_lifetime_value_is_the_discounted_value_of_the_purchases_expected():
    model = clv.BgNbd(BGNBD["r"], BGNBD["alpha"], BGNBD["a"], BGNBD["b"], 0.0)
    x, t_x, big_t = np.array([4.0]), np.array([260.0]), np.array([270.0])
    spend = np.array([50.0])
    undiscounted = clv.lifetime_value(
        model, spend=spend, x=x, t_x=t_x, big_t=big_t, months=12, monthly_discount=0.0,
        unit_days=1,
    )  # fmt: skip
    purchases = clv.expected_purchases(model, t=12 * clv.DAYS_PER_MONTH, x=x, t_x=t_x, big_t=big_t)
    assert undiscounted[0] == pytest.approx(purchases[0] * 50)
    discounted = clv.lifetime_value(
        model, spend=spend, x=x, t_x=t_x, big_t=big_t, months=12, monthly_discount=0.02,
        unit_days=1,
    )  # fmt: skip
    assert 0 < discounted[0] < undiscounted[0]


def test_the_next_purchase_is_expected_when_one_purchase_is_expected_and_never_for_the_gone():
    model = clv.BgNbd(BGNBD["r"], BGNBD["alpha"], BGNBD["a"], BGNBD["b"], 0.0)
    days = clv.next_purchase_in(
        model, x=np.array([10.0, 2.0]), t_x=np.array([38.0, 3.0]),
        big_t=np.array([38.5, 38.5]), unit_days=7,
    )  # fmt: skip
    assert 0 < days[0] < 60
    assert np.isnan(days[1])
    one = clv.expected_purchases(
        model, t=days[0] / 7, x=np.array([10.0]), t_x=np.array([38.0]), big_t=np.array([38.5])
    )
    assert one[0] == pytest.approx(1.0, abs=0.05)


def test_a_base_without_repeat_customer_cannot_be_fitted():
    with pytest.raises(clv.FitError):
        clv.bgnbd_fit(x=np.zeros(5), t_x=np.zeros(5), big_t=np.full(5, 10.0))
