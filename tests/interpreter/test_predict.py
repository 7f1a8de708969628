"""Votes, tie-breaking, mutual information and image scores."""

from __future__ import annotations

import math

import torch

from datasetgan.interpreter import image_scores, summarize_members


def _logp(probs: list[list[list[float]]]) -> torch.Tensor:
    """probs given as [M][P][K] -> log-probabilities [M, K, P]."""
    return torch.tensor(probs).log().transpose(1, 2)


def test_majority_vote_beats_mean_probability() -> None:
    # 2 of 3 members say class 1 weakly; one says class 0 very strongly (mean favours class 0)
    logp = _logp([[[0.45, 0.55]], [[0.45, 0.55]], [[0.99, 0.01]]])
    labels, mean, _ = summarize_members(logp)
    assert labels.tolist() == [1]
    assert mean[0, 0] > mean[1, 0]


def test_tie_broken_by_mean_probability() -> None:
    logp = _logp([[[0.6, 0.4]], [[0.1, 0.9]]])  # one vote each; mean 0.35 / 0.65
    assert summarize_members(logp)[0].tolist() == [1]
    logp = _logp([[[0.9, 0.1]], [[0.45, 0.55]]])  # one vote each; mean 0.675 / 0.325
    assert summarize_members(logp)[0].tolist() == [0]


def test_exact_tie_takes_lower_class() -> None:
    logp = _logp([[[0.7, 0.3]], [[0.3, 0.7]]])
    assert summarize_members(logp)[0].tolist() == [0]


def test_mutual_information() -> None:
    agree = _logp([[[0.2, 0.8]], [[0.2, 0.8]], [[0.2, 0.8]]])
    assert summarize_members(agree)[2].abs().max() < 1e-6  # same belief: no disagreement
    disagree = _logp([[[0.999999, 1e-6]], [[1e-6, 0.999999]]])
    assert (
        abs(float(summarize_members(disagree)[2][0]) - math.log(2)) < 1e-3
    )  # maximal for 2 classes
    p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    mean = p.mean(0)
    expected = -(mean * mean.log()).sum() + (p * p.log()).sum(1).mean()
    got = summarize_members(p.log()[:, :, None])[2][0]
    assert abs(float(got - expected)) < 1e-6


def test_image_score_is_mean_of_top_tenth() -> None:
    u = torch.zeros(2, 10, 10)
    u[0].view(-1)[:10] = torch.arange(10.0)  # top 10 % = these ten values, mean 4.5
    u[1] = 1.0
    assert image_scores(u).tolist() == [4.5, 1.0]
    assert image_scores(torch.arange(7.0).view(1, 7)).tolist() == [6.0]  # ceil(0.7) = 1 pixel


def test_argmax_classes_matches_torch() -> None:
    from datasetgan.interpreter.predict import argmax_classes

    x = torch.randint(0, 4, (3, 5, 200)).float()  # many exact ties
    assert torch.equal(argmax_classes(x), x.argmax(1))
