"""Checks of 04_successor_representations: right answers pass, plausible wrong answers fail."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import checks
from course_tools.references import part4 as ref

# --- 4.1 sr_exact -------------------------------------------------------------------------


def _sr_no_scale(P_pi, gamma):
    return np.linalg.inv(np.eye(len(P_pi)) - gamma * P_pi)


def _sr_transposed(P_pi, gamma):
    return (1 - gamma) * np.linalg.inv(np.eye(len(P_pi)) - gamma * P_pi.T)


def _sr_two_terms(P_pi, gamma):
    return (1 - gamma) * (np.eye(len(P_pi)) + gamma * P_pi)


# --- 4.2 sr_td_update ---------------------------------------------------------------------


def _td_no_one_minus_gamma(M, s, s_next, gamma, alpha):
    M = M.copy()
    M[s] += alpha * (np.eye(len(M))[s] + gamma * M[s_next] - M[s])
    return M


def _td_bootstraps_on_s(M, s, s_next, gamma, alpha):
    M = M.copy()
    M[s] += alpha * ((1 - gamma) * np.eye(len(M))[s] + gamma * M[s] - M[s])
    return M


def _td_updates_columns(M, s, s_next, gamma, alpha):
    M = M.copy()
    M[:, s] += alpha * ((1 - gamma) * np.eye(len(M))[:, s] + gamma * M[:, s_next] - M[:, s])
    return M


def _td_ignores_alpha(M, s, s_next, gamma, alpha):
    M = M.copy()
    M[s] = (1 - gamma) * np.eye(len(M))[s] + gamma * M[s_next]
    return M


def _td_one_pair_at_a_time(M, s, s_next, gamma, alpha):
    """Updates in place, pair after pair: later targets read rows already updated."""
    M = M.copy()
    for i, j in zip(s, s_next, strict=True):
        M[i] += alpha * ((1 - gamma) * np.eye(len(M))[i] + gamma * M[j] - M[i])
    return M


# --- 4.3 value_from_sr --------------------------------------------------------------------


def _v_no_division(M, r, gamma):
    return M @ r


def _v_transposed(M, r, gamma):
    return M.T @ r / (1 - gamma)


def _v_times(M, r, gamma):
    return M @ r * (1 - gamma)


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


# exercise id -> (a correct answer, wrong answers); tests/test_checks_all.py uses this table.
CASES = {
    "4.1": (ref.sr_exact, [_sr_no_scale, _sr_transposed, _sr_two_terms]),
    "4.2": (ref.sr_td_update,
            [_td_no_one_minus_gamma, _td_bootstraps_on_s, _td_updates_columns, _td_ignores_alpha,
             _td_one_pair_at_a_time]),
    "4.3": (ref.value_from_sr, [_v_no_division, _v_transposed, _v_times]),
    "4.4": (ref.gpi_action, [_gpi_returns_policy, _gpi_mean_over_policies, _gpi_first_policy_only,
                                   _gpi_float_actions, _gpi_values]),
    "4.5": (ref.classifier_density_ratio,
            [_ratio_via_sigmoid, _ratio_forgets_k, _ratio_divides_k, _ratio_is_probability, _ratio_numpy,
             _ratio_log]),
}


def test_gpi_check_accepts_any_tie_break(capsys):
    def last_tied_action(psi, w):
        q = (psi @ w).max(axis=0)
        best = np.isclose(q, q.max(axis=1, keepdims=True), rtol=0, atol=1e-12)
        return q.shape[1] - 1 - best[:, ::-1].argmax(axis=1)

    checks.gpi_action(last_tied_action)
    assert capsys.readouterr().out.startswith("Exercise 4.4 passed")


@pytest.mark.parametrize("wrong, expected", [
    (_ratio_via_sigmoid, "NaN or inf"),
    (_ratio_forgets_k, "four negatives per positive"),
    (_ratio_numpy, "expected a torch tensor"),
    (_gpi_float_actions, "integer actions"),
    (_td_updates_columns, "largest difference"),
])
def test_messages_say_what_is_wrong(wrong, expected):
    name = {"_ratio": "classifier_density_ratio", "_gpi_f": "gpi_action", "_td_up": "sr_td_update"}
    check = getattr(checks, name[wrong.__name__[:6]])
    with pytest.raises(checks.CheckFailed) as info:
        check(wrong)
    assert expected in str(info.value)
