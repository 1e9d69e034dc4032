"""Daily assignment optimizer: account → treatment → collector under capacities (pure core)."""

from buyu.optimizer.index import Index, build_index
from buyu.optimizer.problem import (
    Account,
    Collector,
    Option,
    Problem,
    ProblemError,
    Resource,
    Treatment,
    collector_resource,
    field_resource,
    make_option,
)
from buyu.optimizer.result import Assignment, Choice, Reason, Result, Status, Unplaced
from buyu.optimizer.solver import solve

__all__ = [
    "Account",
    "Assignment",
    "Choice",
    "Collector",
    "Index",
    "Option",
    "Problem",
    "ProblemError",
    "Reason",
    "Resource",
    "Result",
    "Status",
    "Treatment",
    "Unplaced",
    "build_index",
    "collector_resource",
    "field_resource",
    "make_option",
    "solve",
]
