"""Checks of 04_successor_representations: right answers pass, plausible wrong answers fail."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from course_lib import checks
from course_lib.checks.part4 import td_batch, toy_classifier
from course_tools.references import part4 as ref

# --- 4.1 psi_td_update ---------------------------------------------------------------------


def _psi_no_one_minus_gamma(psi, phi, s, a, s_next, a_next, gamma, alpha):
    out = psi.copy()
    out[s, a] += alpha * (phi[s] + gamma * psi[s_next, a_next] - psi[s, a])
    return out


def _psi_phi_of_next_state(psi, phi, s, a, s_next, a_next, gamma, alpha):
    out = psi.copy()
    out[s, a] += alpha * ((1 - gamma) * phi[s_next] + gamma * psi[s_next, a_next] - psi[s, a])
    return out


def _psi_mean_over_next_actions(psi, phi, s, a, s_next, a_next, gamma, alpha):
    out = psi.copy()
    out[s, a] += alpha * ((1 - gamma) * phi[s] + gamma * psi[s_next].mean(axis=1) - psi[s, a])
    return out


def _psi_updates_every_action(psi, phi, s, a, s_next, a_next, gamma, alpha):
    out = psi.copy()
    out[s] += alpha * ((1 - gamma) * phi[s] + gamma * psi[s_next, a_next] - psi[s, a])[:, None]
    return out


def _psi_ignores_alpha(psi, phi, s, a, s_next, a_next, gamma, alpha):
    out = psi.copy()
    out[s, a] = (1 - gamma) * phi[s] + gamma * psi[s_next, a_next]
    return out


def _psi_one_pair_at_a_time(psi, phi, s, a, s_next, a_next, gamma, alpha):
    """Updates in place, pair after pair: later targets read pairs already updated."""
    out = psi.copy()
    for i, j, k, m in zip(s, a, s_next, a_next, strict=True):
        out[i, j] += alpha * ((1 - gamma) * phi[i] + gamma * out[k, m] - out[i, j])
    return out


# --- 4.2 reward_weights --------------------------------------------------------------------


def _w_no_ridge(features, rewards, ridge):
    return np.linalg.lstsq(features, rewards, rcond=None)[0]


def _w_ridge_everywhere(features, rewards, ridge):
    return np.linalg.solve(features.T @ features + ridge, features.T @ rewards)


def _w_correlation(features, rewards, ridge):
    return features.T @ rewards / len(rewards)


def _w_ridge_times_n(features, rewards, ridge):
    d = features.shape[1]
    return np.linalg.solve(features.T @ features + ridge * len(rewards) * np.eye(d), features.T @ rewards)


# --- 4.4 gpi_action -----------------------------------------------------------------------


def _gpi_returns_policy(psi, w):
    return (psi @ w).max(axis=2).argmax(axis=0)


def _gpi_mean_over_policies(psi, w):
    return (psi @ w).mean(axis=0).argmax(axis=1)


def _gpi_first_policy_only(psi, w):
    return (psi[0] @ w).argmax(axis=1)


def _gpi_float_actions(psi, w):
    return ref.gpi_action(psi, w).astype(float)


def _gpi_values(psi, w):
    return (psi @ w).max(axis=0).max(axis=1)


# --- 4.5 classifier_density_ratio ---------------------------------------------------------


def _ratio_via_sigmoid(logits, k):
    c = torch.sigmoid(logits)
    return k * c / (1 - c)


def _ratio_forgets_k(logits, k):
    return torch.exp(logits)


def _ratio_divides_k(logits, k):
    return torch.exp(logits) / k


def _ratio_is_probability(logits, k):
    return torch.sigmoid(logits)


def _ratio_numpy(logits, k):
    return k * np.exp(logits.numpy())


def _ratio_log(logits, k):
    return logits + np.log(k)


# --- 4.5 td_classifier_loss ---------------------------------------------------------------


def _td_loss(clf, target_clf, s, a, s_next, a_next, s_rand, gamma, *, w_at="next", w_from="target",
             odds=True, pos_weight=None, reduce="mean", negatives=True):
    """A configurable TD C-learning loss; the defaults give the right answer."""
    net = target_clf if w_from == "target" else clf
    with torch.no_grad():
        logit_w = net(s_next, a_next, s_rand, gamma) if w_at == "next" else net(s, a, s_rand, gamma)
        w = torch.exp(logit_w) if odds else torch.sigmoid(logit_w)
    if pos_weight is not None:
        w = torch.full_like(w, pos_weight)
    l_next, l_rand = clf(s, a, s_next, gamma), clf(s, a, s_rand, gamma)
    loss = (1 - gamma) * F.softplus(-l_next) + gamma * w * F.softplus(-l_rand)
    if negatives:
        loss = loss + F.softplus(l_rand)
    return loss.mean() if reduce == "mean" else loss.sum()


def _tdl(**kw):
    fn = functools.partial(_td_loss, **kw)
    fn.__name__ = "_tdl_" + "_".join(f"{k}_{v}" for k, v in kw.items())
    return fn


def _td_no_one_minus_gamma(clf, target_clf, s, a, s_next, a_next, s_rand, gamma):
    l_next, l_rand = clf(s, a, s_next, gamma), clf(s, a, s_rand, gamma)
    w = torch.exp(target_clf(s_next, a_next, s_rand, gamma)).detach()
    return (F.softplus(-l_next) + gamma * w * F.softplus(-l_rand) + F.softplus(l_rand)).mean()


# exercise id -> (a correct answer, wrong answers); tests/test_checks_all.py uses this table.
CASES = {
    "4.1": (ref.psi_td_update,
            [_psi_no_one_minus_gamma, _psi_phi_of_next_state, _psi_mean_over_next_actions,
             _psi_updates_every_action, _psi_ignores_alpha, _psi_one_pair_at_a_time]),
    "4.2": (ref.reward_weights, [_w_no_ridge, _w_ridge_everywhere, _w_correlation, _w_ridge_times_n]),
    "4.3": (ref.gpi_action, [_gpi_returns_policy, _gpi_mean_over_policies, _gpi_first_policy_only,
                             _gpi_float_actions, _gpi_values]),
    "4.4": (ref.classifier_density_ratio,
            [_ratio_via_sigmoid, _ratio_forgets_k, _ratio_divides_k, _ratio_is_probability, _ratio_numpy,
             _ratio_log]),
    "4.5": (ref.td_classifier_loss,
            [_td_no_one_minus_gamma, _tdl(w_at="current"), _tdl(w_from="online"), _tdl(odds=False),
             _tdl(pos_weight=1.0), _tdl(reduce="sum"), _tdl(negatives=False)]),
}


def test_the_td_loss_helper_with_defaults_is_the_reference():
    gen = torch.Generator().manual_seed(0)
    clf, target = toy_classifier(gen), toy_classifier(gen)
    args = (clf, target, *td_batch(7, gen), torch.full((7,), 0.9, dtype=torch.float64))
    torch.testing.assert_close(_td_loss(*args), ref.td_classifier_loss(*args))


def test_gpi_check_accepts_any_tie_break(capsys):
    def last_tied_action(psi, w):
        q = (psi @ w).max(axis=0)
        best = np.isclose(q, q.max(axis=1, keepdims=True), rtol=0, atol=1e-12)
        return q.shape[1] - 1 - best[:, ::-1].argmax(axis=1)

    checks.gpi_action(last_tied_action)
    assert capsys.readouterr().out.startswith("Exercise 4.3 passed")


@pytest.mark.parametrize("wrong, expected", [
    (_ratio_via_sigmoid, "NaN or inf"),
    (_ratio_forgets_k, "four negatives per positive"),
    (_ratio_numpy, "expected a torch tensor"),
    (_gpi_float_actions, "integer actions"),
    (_psi_updates_every_action, "largest difference"),
    (_w_no_ridge, "ridge = 0.1"),
])
def test_messages_say_what_is_wrong(wrong, expected):
    name = {"_ratio": "classifier_density_ratio", "_gpi_f": "gpi_action", "_psi_u": "psi_td_update",
            "_w_no_": "reward_weights"}
    check = getattr(checks, name[wrong.__name__[:6]])
    with pytest.raises(checks.CheckFailed) as info:
        check(wrong)
    assert expected in str(info.value)
