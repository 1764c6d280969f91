"""Design-space exploration (``hwprune explore``): sweep sparsity pattern, sparsity, weight bits and
lanes on one model for one board; cycles from the cycle model, resources from the analytic model,
accuracy from the integer reference; the Pareto set, optionally synthesized with Yosys."""

from hwprune.explore.config import ExploreConfig, PatternChoice, load_explore_config, parse_pattern
from hwprune.explore.pareto import OBJECTIVES, dominates, pareto_indices
from hwprune.explore.sweep import EXPLORE_JSON, PARETO_PNG, ExploreResult, make_jobs, run_explore

__all__ = ["ExploreConfig", "PatternChoice", "load_explore_config", "parse_pattern", "OBJECTIVES",
           "dominates", "pareto_indices", "ExploreResult", "make_jobs", "run_explore", "EXPLORE_JSON",
           "PARETO_PNG"]
