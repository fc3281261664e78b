"""Small-cell suppression: small counts withheld, and none recoverable by subtraction."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.clinical.disclosure import publishable_rate, suppress_table


def _lines(table):
    rows, columns = len(table.values), len(table.values[0])
    for r in range(rows):
        yield [(r, c) for c in range(columns)]
    for c in range(columns):
        yield [(r, c) for r in range(rows)]


def test_it_withholds_counts_from_1_to_10_but_not_0_or_11():
    table = suppress_table([[0, 11, 25], [10, 30, 40]])
    assert table.values == ((0, 11, 25, 36), (10, 30, 40, 80), (10, 41, 65, 116))
    # 10 and the column total 10 are small; 30 partners the 10 in its row, 41 the column
    # total 10 in the row of totals.
    assert table.published == (
        (0, 11, 25, 36),
        (None, None, 40, 80),
        (None, None, 65, 116),
    )


def test_a_single_small_cell_takes_partners_until_no_line_has_one():
    table = suppress_table([[50, 40], [30, 5]])
    # 5 is withheld; 30 joins it in its row, 40 in its column, then 50 so that the first
    # column does not give 30 away. The totals stay: a, b, c, d are left one degree of freedom.
    assert table.published == ((None, None, 90), (None, None, 35), (80, 45, 125))


def test_nothing_small_nothing_withheld():
    table = suppress_table([[20, 30], [40, 50]])
    assert not any(any(row) for row in table.withheld)
    assert table.published == ((20, 30, 50), (40, 50, 90), (60, 80, 140))


small_biased = st.one_of(st.integers(0, 12), st.integers(0, 200))


@settings(max_examples=400)
@given(
    st.integers(1, 5).flatmap(
        lambda columns: st.lists(
            st.lists(small_biased, min_size=columns, max_size=columns), min_size=1, max_size=6
        )
    )
)
def test_no_withheld_count_can_be_worked_out_along_a_row_or_column(cells):
    table = suppress_table(cells)
    for r, row in enumerate(table.values):
        for c, value in enumerate(row):
            if 1 <= value <= 10:
                assert table.withheld[r][c], "a small count was published"
    for line in _lines(table):
        withheld = [p for p in line if table.withheld[p[0]][p[1]]]
        # One withheld entry in a line that adds up = its value is total minus the others.
        assert len(withheld) != 1
    # What is published is the truth.
    for published_row, row in zip(table.published, table.values, strict=True):
        for shown, value in zip(published_row, row, strict=True):
            assert shown is None or shown == value


def test_rates_need_11_in_the_denominator_and_no_small_part():
    assert publishable_rate(6, 12) is None  # 6 responders is a small count
    assert publishable_rate(11, 20) is None  # 9 non-responders could be worked out
    assert publishable_rate(11, 22) == 0.5
    assert publishable_rate(0, 11) == 0.0
    assert publishable_rate(5, 10) is None  # denominator under 11
    assert publishable_rate(12, 10) is None
    assert publishable_rate(20, 40, numerator_withheld=True) is None
