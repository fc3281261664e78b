"""The outcome summary: response, remission and retention per group."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Q,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from ketaclinic.accounts.models import Clinic
from ketaclinic.clinical.statistics import kaplan_meier, median_of_counts
from ketaclinic.clinical.statistics import wilson_interval as wilson
from ketaclinic.measures.registry import instruments

from .filters import (
    NO_COURSE,
    SHORT_NAMES,
    Filters,
    cohorts,
    dropout_q,
    group_labels,
    outcomes,
)

# --------------------------------------------------------------------------- summary


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _group_row(key: str, label: str, c: Mapping[str, int], o: Mapping[str, Any]) -> dict[str, Any]:
    response_ci = wilson(o["responders"], o["response_n"])
    remission_ci = wilson(o["remitters"], o["remission_n"])
    return {
        "key": key,
        "label": label,
        "patients": c["patients"],
        "treated": c["treated"],
        "with_baseline": o["with_baseline"],
        "with_followup": o["with_followup"],
        "responders": o["responders"],
        "response_evaluable": o["response_n"],
        "response_rate": _rate(o["responders"], o["response_n"]),
        "response_ci": list(response_ci) if response_ci else None,
        "remitters": o["remitters"],
        "remission_evaluable": o["remission_n"],
        "remission_rate": _rate(o["remitters"], o["remission_n"]),
        "remission_ci": list(remission_ci) if remission_ci else None,
        "dropouts": c["dropouts"],
    }


OUTCOME_COUNTS = {
    "with_baseline": Count("pk", filter=Q(baseline_before_treatment=True)),
    "with_followup": Count("pk", filter=Q(baseline_before_treatment=True, has_follow_up=True)),
    "responders": Count("pk", filter=Q(response=True)),
    "response_n": Count("pk", filter=Q(response__isnull=False)),
    "remitters": Count("pk", filter=Q(remission=True)),
    "remission_n": Count("pk", filter=Q(remission__isnull=False)),
}
EMPTY_OUTCOME = dict.fromkeys(OUTCOME_COUNTS, 0)


def summary(clinic: Clinic, filters: Filters, now: datetime | None = None) -> dict[str, Any]:
    """Per group: counts, response and remission with Wilson intervals, median change, KM.

    Five queries whatever the clinic's size (a sixth for physicians' names).
    """
    now = now or timezone.now()
    # Aggregate names must not shadow fields (`treated`) that the filters refer to.
    counts = {
        row["key"]: {
            "patients": row["n_patients"],
            "treated": row["n_treated"],
            "dropouts": row["n_dropouts"],
        }
        for row in cohorts(clinic, filters)
        .values("key")
        .annotate(
            n_patients=Count("pk"),
            n_treated=Count("pk", filter=Q(treated=True)),
            n_dropouts=Count("pk", filter=dropout_q(now)),
        )
        .order_by()
    }
    found = outcomes(clinic, filters)
    # The counts are annotated from a dict, so the type checker knows only `key` of a row.
    per_group: dict[str, Mapping[str, Any]] = {
        row["key"]: row for row in found.values("key").annotate(**OUTCOME_COUNTS).order_by()
    }
    changes: dict[str, dict[int, int]] = defaultdict(dict)
    for change_row in (
        found.filter(baseline_before_treatment=True, change__isnull=False)
        .values("key", "change")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        if change_row["change"] is not None:  # always (the filter); narrows the type
            changes[change_row["key"]][change_row["change"]] = change_row["n"]
    times: dict[str, list[tuple[float, bool, int]]] = defaultdict(list)
    for time_row in (
        found.filter(response__isnull=False, days_followed__isnull=False)
        .annotate(
            t=Coalesce("days_to_response", "days_followed"),
            event=Case(
                When(days_to_response__isnull=False, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
        )
        .values("key", "t", "event")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        times[time_row["key"]].append((time_row["t"], time_row["event"], time_row["n"]))

    keys = sorted(set(counts) | set(per_group), key=lambda k: (k == NO_COURSE, k))
    labels = group_labels(filters.group_by, keys)
    groups = []
    for key in keys:
        c = counts.get(key, {"patients": 0, "treated": 0, "dropouts": 0})
        group = _group_row(key, labels.get(key, key), c, per_group.get(key, EMPTY_OUTCOME))
        group["median_change"] = median_of_counts(changes.get(key, {}))
        group["median_days_to_response"] = kaplan_meier(times.get(key, [])).median
        groups.append(group)
    labels_sorted = sorted(groups, key=lambda g: (g["key"] == NO_COURSE, g["label"].lower()))

    # The whole clinic: sums of the groups, and the statistics over the pooled counts.
    total_counts = {k: sum(g[k] for g in groups) for k in ("patients", "treated", "dropouts")}
    total_outcome = {
        k: sum(per_group.get(g, EMPTY_OUTCOME)[k] for g in keys) for k in OUTCOME_COUNTS
    }
    pooled_changes: dict[int, int] = defaultdict(int)
    for hist in changes.values():
        for value, n in hist.items():
            pooled_changes[value] += n
    all_curve = kaplan_meier(t for rows in times.values() for t in rows)
    total = _group_row("all", "All patients", total_counts, total_outcome)
    total["median_change"] = median_of_counts(pooled_changes)
    total["median_days_to_response"] = all_curve.median
    definition = instruments().get(filters.instrument)
    return {
        "instrument": filters.instrument,
        "instrument_label": SHORT_NAMES[filters.instrument],
        "instrument_title": definition.title if definition else filters.instrument,
        "has_response_rule": bool(definition and definition.outcomes.response),
        "has_remission_rule": bool(definition and definition.outcomes.remission),
        "group_by": filters.group_by,
        "groups": labels_sorted,
        "total": total,
        "curve": all_curve,
    }
