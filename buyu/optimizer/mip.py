"""Exact repair of a core of the plan with a MIP (SCIP through OR-Tools' model builder).

The accounts outside the core keep their current option; their resource use becomes a constant.
The core is solved exactly over every option of its accounts, warm-started from the current
plan, with every constraint family:

    assignment  sum_o x_ao <= 1                       (no_action is the slack)
    capacity    sum q_or x_o <= C_r - fixed use
    band        load_c <= beta_c * L_t,  L_t = team load  (only rows the core could break)

When the core is the whole problem, SCIP's optimality proof is a proof for the day.

The model goes through `model_builder_helper` (the engine under OR-Tools' ModelBuilder, the
successor of pywraplp's MPSolver) because it takes the constraint matrix as one scipy sparse
matrix: building 20k variables one `Add` at a time through pywraplp costs more than solving.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from ortools.linear_solver.python import model_builder_helper as mbh

from buyu.optimizer.index import BoolArray, IntArray
from buyu.optimizer.model import Balance, Model
from buyu.optimizer.primal import usage


@dataclass(frozen=True, slots=True)
class CoreSolution:
    """The core's new choice per account and what SCIP proved about the core."""

    choice: IntArray
    optimal: bool
    bound: float  # upper bound on the core's objective (plus the fixed part)


#: a repair sub-MIP needs a good solution fast, not a tight root: few cut rounds, no restarts
SCIP_SETTINGS = "\n".join([
    "separating/maxroundsroot = 5",
    "separating/maxrounds = 1",
    "presolving/maxrestarts = 0",
])


class CoreModel:
    """Rows of the core MIP, built as one sparse matrix (columns: core options, then team loads)."""

    def __init__(self, *, model: Model, choice: IntArray, core: BoolArray) -> None:
        self.model = model
        self.cols = np.flatnonzero(core[model.acc])
        fixed = choice.copy()
        fixed[core] = -1
        self.fixed_use = usage(model=model, choice=fixed)
        self.fixed_value = int(model.val[fixed[fixed >= 0]].sum())
        self.col_of = np.full(model.n_active, -1, dtype=np.int64)
        self.col_of[self.cols] = np.arange(len(self.cols))
        bal = model.balance
        self.band_members = np.flatnonzero(self._may_bind(bal)) if bal is not None else np.zeros(0, np.int64)
        self.teams = np.unique(bal.team[self.band_members]) if bal is not None else np.zeros(0, np.int64)
        self.n_cols = len(self.cols) + len(self.teams)
        self.blocks: list[tuple[sp.csr_matrix, np.ndarray, np.ndarray]] = []
        self._assignment_rows()
        self._capacity_rows()
        if model.balance is not None and len(self.teams):
            self._band_rows(model.balance)

    def _may_bind(self, bal: Balance) -> BoolArray:
        """Band rows the core could break; the others hold whatever the core does, so they and
        their teams stay out of the MIP (a team's load column couples all its rows)."""
        # the team load is at least its fixed part; a collector's load at most fixed + core options
        in_core = self.col_of[self.model.u_opt] >= 0
        most = self.fixed_use + np.bincount(self.model.u_res[in_core], weights=self.model.u_amt[in_core],
                                            minlength=self.model.n_resources)
        most = np.minimum(most, self.model.capacity)
        fixed_team = np.bincount(bal.team[bal.balanced], weights=self.fixed_use[bal.balanced],
                                 minlength=len(bal.team_minutes))
        floor = np.where(bal.balanced, bal.beta * fixed_team[np.maximum(bal.team, 0)], np.inf)
        return bal.balanced & (most > floor - 1e-9)

    def _add(self, rows: sp.csr_matrix, lower: np.ndarray, upper: np.ndarray) -> None:
        self.blocks.append((rows, lower, upper))

    def _assignment_rows(self) -> None:
        """At most one option per core account."""
        accounts, row = np.unique(self.model.acc[self.cols], return_inverse=True)
        n = len(self.cols)
        a = sp.csr_matrix((np.ones(n), (row, np.arange(n))), shape=(len(accounts), self.n_cols))
        self._add(a, np.full(len(accounts), -np.inf), np.ones(len(accounts)))

    def _core_uses(self) -> tuple[IntArray, IntArray, IntArray]:
        keep = self.col_of[self.model.u_opt] >= 0
        return self.col_of[self.model.u_opt[keep]], self.model.u_res[keep], self.model.u_amt[keep]

    def _capacity_rows(self) -> None:
        """Each resource the core touches keeps within what the fixed accounts left."""
        col, res, amt = self._core_uses()
        touched, row = np.unique(res, return_inverse=True)
        a = sp.csr_matrix((amt.astype(np.float64), (row, col)), shape=(len(touched), self.n_cols))
        left = (self.model.capacity - self.fixed_use)[touched].astype(np.float64)
        self._add(a, np.full(len(touched), -np.inf), left)

    def _band_rows(self, bal: Balance) -> None:
        """Team load columns L_t = fixed + core load, and load_c - beta_c L_t <= 0 where it may bind."""
        col, res, amt = self._core_uses()
        n_teams = len(self.teams)
        team_col = len(self.cols) + np.arange(n_teams)
        on = bal.balanced[res] & np.isin(bal.team[res], self.teams)
        t_row = np.searchsorted(self.teams, bal.team[res[on]])
        eq = sp.csr_matrix(
            (np.r_[np.ones(n_teams), -amt[on]], (np.r_[np.arange(n_teams), t_row], np.r_[team_col, col[on]])),
            shape=(n_teams, self.n_cols),
        )
        b = bal.balanced & np.isin(bal.team, self.teams)
        fixed_team = np.bincount(np.searchsorted(self.teams, bal.team[b]), weights=self.fixed_use[b], minlength=n_teams)
        self._add(eq, fixed_team, fixed_team)
        members = self.band_members
        row_of = np.full(self.model.n_resources, -1, dtype=np.int64)
        row_of[members] = np.arange(len(members))
        mine = on & (row_of[res] >= 0)
        rows = np.r_[row_of[res[mine]], np.arange(len(members))]
        cols = np.r_[col[mine], team_col[np.searchsorted(self.teams, bal.team[members])]]
        vals = np.r_[amt[mine].astype(np.float64), -bal.beta[members]]
        band = sp.csr_matrix((vals, (rows, cols)), shape=(len(members), self.n_cols))
        self._add(band, np.full(len(members), -np.inf), -self.fixed_use[members].astype(np.float64))

    def objective(self) -> np.ndarray:
        """Adjusted values of the core options; team loads are free."""
        return np.r_[self.model.val[self.cols].astype(np.float64), np.zeros(len(self.teams))]

    def solve(self, *, hint: IntArray, seconds: float, slack: float) -> CoreSolution | None:
        """Solve with SCIP from the hint, stopping once within `slack` fen of the core's optimum
        (an absolute gap: what matters is the day's gap, not the core's); None when SCIP returns
        no solution in time."""
        solver = mbh.ModelSolverHelper("scip")
        solver.enable_output(False)
        solver.set_time_limit_in_seconds(max(seconds, 0.05))
        solver.set_solver_specific_parameters(SCIP_SETTINGS + f"\nlimits/absgap = {max(slack, 0.0)}")
        solver.solve(self._helper(hint))
        if not solver.has_solution():
            return None
        x = solver.variable_values()[: len(self.cols)] > 0.5
        choice = hint.copy()
        choice[np.unique(self.model.acc[self.cols])] = -1
        choice[self.model.acc[self.cols[x]]] = self.cols[x]
        optimal = solver.status() == mbh.SolveStatus.OPTIMAL
        return CoreSolution(choice=choice, optimal=optimal, bound=self.fixed_value + solver.best_objective_bound())

    def _helper(self, hint: IntArray) -> mbh.ModelBuilderHelper:
        """The model: rows stacked into one sparse matrix, binaries for options, the plan as hint."""
        helper = mbh.ModelBuilderHelper()
        matrix = sp.vstack([b[0] for b in self.blocks]).tocsr()
        lower = np.concatenate([b[1] for b in self.blocks])
        upper = np.concatenate([b[2] for b in self.blocks])
        var_upper = np.r_[np.ones(len(self.cols)), np.full(len(self.teams), np.inf)]
        helper.fill_model_from_sparse_data(
            np.zeros(self.n_cols), var_upper, self.objective(), lower, upper, matrix  # type: ignore[arg-type]
        )
        helper.set_maximize(True)
        chosen = np.zeros(self.model.n_active, dtype=np.bool_)
        chosen[hint[hint >= 0]] = True
        for j, o in enumerate(self.cols.tolist()):
            helper.set_var_integrality(j, True)
            helper.add_hint(j, 1.0 if chosen[o] else 0.0)
        return helper
