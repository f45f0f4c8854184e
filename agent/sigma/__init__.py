"""Sigma detection in the agent: load rules with pySigma, evaluate them on log records."""

from agent.sigma.loader import RuleError, RuleProblem
from agent.sigma.matcher import normalize, normalize_folded
from agent.sigma.ruleset import CompiledRule, SigmaRuleSet

__all__ = [
    "CompiledRule",
    "RuleError",
    "RuleProblem",
    "SigmaRuleSet",
    "normalize",
    "normalize_folded",
]
