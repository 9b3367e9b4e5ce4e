"""Barlow Twins and our reading of its modified form (MBT), as one cross-correlation loss.

Two views' embeddings za, zb (N x D) are standardised per dimension over the batch, their
cross-correlation C = za^T zb / N is compared with the identity: an invariance term
sum_i (1 - C_ii)^2 and a redundancy term sum_{i != j} C_ij^2 weighted by lambda
(Zbontar et al. 2021). The variants (SSL.md; "our reading" where the paper is silent):

* ``bt``: as above.
* ``l2``: MBT, our reading - each embedding L2-normalised per sample first, so rescaling
  one clip's embedding leaves the loss unchanged.
* ``width``: MBT's second reading - ``l2`` with the invariance term divided by D and the
  redundancy term by D(D - 1), so the loss does not grow with the projector's width.

The ablation arms set one term's weight to 0. Under DDP every batch statistic (count,
mean, variance, C) is summed across processes with a differentiable all-reduce: with a
plain ``dist.all_reduce`` the other processes' part of C would carry no gradient.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch.nn import functional as F

Normalisation = Literal["bt", "l2", "width"]
EPS = 1e-5  # the reference's BatchNorm1d epsilon, inside the standard deviation


def _summed(tensor: torch.Tensor) -> torch.Tensor:
    """The sum over every process (with gradients), or the tensor itself in one process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        # torch 2.14's differentiable all-reduce (torch.distributed.nn's is deprecated for it):
        # its backward all-reduces the gradients, so every process's part of C carries one.
        from torch.distributed import _functional_collectives as collectives

        return collectives.all_reduce(tensor, "sum", dist.group.WORLD)
    return tensor


def standardised(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(z with each dimension at zero mean and unit variance over the whole batch, N)."""
    count = _summed(torch.tensor(float(z.shape[0]), device=z.device))
    mean = _summed(z.sum(0)) / count
    variance = _summed(((z - mean) ** 2).sum(0)) / count
    return (z - mean) / torch.sqrt(variance + EPS), count


def cross_correlation(
    za: torch.Tensor, zb: torch.Tensor, normalisation: Normalisation = "bt"
) -> torch.Tensor:
    """C (D x D) between the two views' embeddings, over the batch of every process."""
    if normalisation != "bt":
        za, zb = F.normalize(za, dim=1), F.normalize(zb, dim=1)
    a, count = standardised(za)
    b, _ = standardised(zb)
    return _summed(a.T @ b) / count


def barlow_twins_terms(
    za: torch.Tensor, zb: torch.Tensor, normalisation: Normalisation = "bt"
) -> dict[str, torch.Tensor]:
    """The unweighted invariance and redundancy terms (width-normalised for ``width``)."""
    c = cross_correlation(za, zb, normalisation)
    diagonal = torch.diagonal(c)
    invariance = ((1 - diagonal) ** 2).sum()
    redundancy = (c**2).sum() - (diagonal**2).sum()
    if normalisation == "width":
        width = c.shape[0]
        invariance, redundancy = invariance / width, redundancy / (width * (width - 1))
    return {"invariance": invariance, "redundancy": redundancy}


def barlow_twins_loss(
    za: torch.Tensor,
    zb: torch.Tensor,
    *,
    lambda_: float,
    normalisation: Normalisation = "bt",
    invariance_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """{"loss", "invariance", "redundancy"}: loss = invariance_weight x invariance +
    lambda_ x redundancy (invariance_weight 0 or lambda_ 0: the ablation arms)."""
    terms = barlow_twins_terms(za, zb, normalisation)
    loss = invariance_weight * terms["invariance"] + lambda_ * terms["redundancy"]
    return {"loss": loss, **terms}
