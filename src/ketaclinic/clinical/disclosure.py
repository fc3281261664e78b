"""Small-cell suppression for published (de-identified) tables of counts.

The rule (docs/clinical-sources.md §9 (Privacy) and §10 (Changes since the first wave)):

- primary suppression: every count from 1 to 10 is withheld (CMS cell-size suppression
  policy, https://resdac.org/articles/cms-cell-size-suppression-policy): shown as
  "fewer than 11", never as a number; zero is not small-cell data and is shown;
- complementary (secondary) suppression: a table is published with its row and column
  totals, so a withheld count that is the only withheld entry of its row or column could
  be worked out by subtraction from the total. Another entry of that line is withheld
  too, until every row and every column (totals included) holds either no withheld
  entry or at least two;
- a rate is published only when its denominator is 11 or more and neither its
  numerator nor its denominator is withheld.

The complement chosen is the smallest positive count among the line's table cells (a
total only when no cell is left), which loses the least information. This guarantees
that nothing can be recovered by subtraction along one row or column, the attack the
CMS policy names; it does not solve the full linear system of all rows and columns at
once (no published small-clinic table is large enough for that to matter, and the
dashboard groups are few).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "MIN_RATE_DENOMINATOR",
    "SMALL_CELL_MAX",
    "SUPPRESSED_TEXT",
    "SuppressedTable",
    "is_small",
    "publishable_rate",
    "suppress_table",
]

SOURCE = "CMS cell size suppression policy (ResDAC); docs/clinical-sources.md §9 (Privacy)-§10 (Changes since the first wave)"
# Counts 1..SMALL_CELL_MAX are withheld.
SMALL_CELL_MAX = 10
# Rates need at least this many in the denominator.
MIN_RATE_DENOMINATOR = 11
SUPPRESSED_TEXT = "fewer than 11"


def is_small(count: int) -> bool:
    """True when a count must be withheld on its own (1 to 10)."""
    return 1 <= count <= SMALL_CELL_MAX


@dataclass(frozen=True)
class SuppressedTable:
    """A table of counts with its totals, and which entries are withheld.

    `values` and `withheld` are (rows + 1) x (columns + 1) grids: the last column holds
    the row totals, the last row the column totals, the corner the grand total.
    `published` is `values` with withheld entries replaced by None.
    """

    values: tuple[tuple[int, ...], ...]
    withheld: tuple[tuple[bool, ...], ...]

    @property
    def published(self) -> tuple[tuple[int | None, ...], ...]:
        return tuple(
            tuple(None if hidden else value for value, hidden in zip(row, mask, strict=True))
            for row, mask in zip(self.values, self.withheld, strict=True)
        )

    def is_withheld(self, row: int, column: int) -> bool:
        return self.withheld[row][column]


def _lines(rows: int, columns: int) -> list[list[tuple[int, int]]]:
    """Every row and column of the full grid (totals included), as lists of positions."""
    across = [[(r, c) for c in range(columns + 1)] for r in range(rows + 1)]
    down = [[(r, c) for r in range(rows + 1)] for c in range(columns + 1)]
    return across + down


def suppress_table(cells: Sequence[Sequence[int]]) -> SuppressedTable:
    """Return the table with its totals, small counts and their complements withheld.

    `cells` is a rectangular table of non-negative counts (at least one row and column);
    the totals are computed here, so they always add up.
    """
    if not cells or not cells[0]:
        raise ValueError("a table needs at least one row and one column")
    columns = len(cells[0])
    if any(len(row) != columns for row in cells):
        raise ValueError("every row needs the same number of columns")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for row in cells for v in row):
        raise ValueError("counts must be non-negative integers")
    rows = len(cells)
    grid = [[*row, sum(row)] for row in cells]
    grid.append([sum(grid[r][c] for r in range(rows)) for c in range(columns + 1)])
    hidden = [[is_small(value) for value in row] for row in grid]

    def cost(position: tuple[int, int]) -> tuple[int, int, int]:
        r, c = position
        is_total = r == rows or c == columns
        value = grid[r][c]
        # Cells before totals, positive counts before zeros, then the smallest.
        return (int(is_total), int(value == 0), value)

    lines = _lines(rows, columns)
    changed = True
    while changed:
        changed = False
        for line in lines:
            withheld = [p for p in line if hidden[p[0]][p[1]]]
            if len(withheld) != 1:
                continue
            candidates = [p for p in line if not hidden[p[0]][p[1]]]
            r, c = min(candidates, key=cost)
            hidden[r][c] = True
            changed = True
    return SuppressedTable(
        values=tuple(tuple(row) for row in grid),
        withheld=tuple(tuple(row) for row in hidden),
    )


def publishable_rate(
    numerator: int,
    denominator: int,
    *,
    numerator_withheld: bool = False,
    denominator_withheld: bool = False,
) -> float | None:
    """Return numerator / denominator, or None where publishing it would reveal a small count."""
    if (
        denominator < MIN_RATE_DENOMINATOR
        or numerator_withheld
        or denominator_withheld
        or is_small(numerator)
        or is_small(denominator - numerator)
    ):
        return None
    return numerator / denominator
