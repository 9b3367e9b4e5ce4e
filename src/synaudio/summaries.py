"""A mean over seeds with its 95 % interval: how every study's table states a number."""

from __future__ import annotations

from scipy.stats import t as student_t


def interval(std: float, seeds: int) -> float:
    """Half-width of the 95 % confidence interval of a mean over `seeds` values (NaN for one)."""
    return float(student_t.ppf(0.975, seeds - 1) * std / seeds**0.5) if seeds > 1 else float("nan")


def cell(mean: float, ci95: float, seeds: int) -> str:
    """mean +- 95 % interval over seeds; the mean alone for one seed (no spread to show)."""
    return f"{mean:.3f} +- {ci95:.3f}" if seeds > 1 else f"{mean:.3f}"
