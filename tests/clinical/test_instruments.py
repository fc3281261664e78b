"""Loading and validating questionnaire definitions (shipped and clinic-supplied)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ketaclinic.clinical.instruments import (
    Instrument,
    InstrumentDefinitionError,
    load_instrument_file,
    load_instruments,
    score,
)

DEFINITIONS = (
    Path(__file__).resolve().parents[2] / "src/ketaclinic/clinical/instruments/definitions"
)


def shipped_yaml(code: str) -> dict[str, Any]:
    return yaml.safe_load((DEFINITIONS / f"{code}.yaml").read_text(encoding="utf-8"))


def write(folder: Path, name: str, data: dict[str, Any] | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_it_ships_the_nine_instruments_at_their_versions():
    instruments = load_instruments()
    assert sorted(instruments) == [
        "cadss6",
        "cssrs_screen",
        "gad7",
        "madrs",
        "moaas",
        "pain_nrs",
        "pcl5",
        "phq9",
        "qids_sr16",
    ]
    # MADRS 2: the item 10 suicidality alert (issue 12).
    assert {code: i.version for code, i in instruments.items() if i.version != 1} == {"madrs": 2}
    assert instruments["phq9"].key == "phq9@1"


def test_every_shipped_definition_names_its_licence_and_sources():
    for inst in load_instruments().values():
        assert inst.license.strip()
        assert inst.source.strip()
        assert inst.scoring.source.strip()
        assert all(rule.source.strip() for rule in inst.alerts)


def test_it_reads_the_shipped_set_once():
    assert load_instruments()["phq9"] is load_instruments()["phq9"]


def test_each_call_returns_a_new_dict():
    first = load_instruments()
    first.pop("phq9")
    assert "phq9" in load_instruments()


def test_shipped_ranges_and_raters_match_domain_md():
    instruments = load_instruments()
    expected = {
        "phq9": ((0, 27), 9, "self"),
        "gad7": ((0, 21), 7, "self"),
        "pcl5": ((0, 80), 20, "self"),
        "qids_sr16": ((0, 27), 16, "self"),
        "madrs": ((0, 60), 10, "clinician"),
        "pain_nrs": ((0, 10), 1, "self"),
        "moaas": ((0, 5), 1, "observer"),
        "cadss6": ((0, 24), 6, "clinician"),
    }
    for code, (score_range, n_items, rater) in expected.items():
        inst = instruments[code]
        assert inst.score_range() == score_range, code
        assert len(inst.items) == n_items, code
        assert inst.rater == rater, code
    cssrs = instruments["cssrs_screen"]
    assert len(cssrs.items) == 7
    assert all(item.is_boolean for item in cssrs.items)


def test_severity_band_codes_are_the_stable_ones():
    instruments = load_instruments()
    assert instruments["phq9"].severity_codes() == (
        "minimal",
        "mild",
        "moderate",
        "moderately_severe",
        "severe",
    )
    assert instruments["gad7"].severity_codes() == ("minimal", "mild", "moderate", "severe")
    assert instruments["qids_sr16"].severity_codes() == (
        "none",
        "mild",
        "moderate",
        "severe",
        "very_severe",
    )
    assert instruments["madrs"].severity_codes() == ("normal", "mild", "moderate", "severe")
    assert instruments["cssrs_screen"].severity_codes() == ("none", "low", "moderate", "high")
    assert instruments["pcl5"].severity_codes() == ()


def test_loinc_codes_are_the_ones_domain_md_gives():
    instruments = load_instruments()
    phq9 = instruments["phq9"]
    assert (phq9.loinc.panel, phq9.loinc.total) == ("44249-1", "44261-6")
    assert phq9.items[8].loinc == "44260-8"
    gad7 = instruments["gad7"]
    assert (gad7.loinc.panel, gad7.loinc.total) == ("69737-5", "70274-6")
    cssrs = instruments["cssrs_screen"]
    assert cssrs.loinc.risk_level == "93374-7"
    assert [i.loinc for i in cssrs.items[:6]] == [
        "93246-7",
        "93247-5",
        "93248-3",
        "93249-1",
        "93250-9",
        "93267-3",
    ]


def test_outcome_rules_are_the_ones_domain_md_gives():
    instruments = load_instruments()
    for code in ("phq9", "qids_sr16", "madrs", "gad7"):
        response = instruments[code].outcomes.response
        assert response is not None and response.min_reduction_percent == 50, code
    remission = {
        c: instruments[c].outcomes.remission for c in ("phq9", "qids_sr16", "madrs", "gad7")
    }
    assert {c: (r.op, r.value) for c, r in remission.items() if r} == {
        "phq9": ("<", 5),
        "qids_sr16": ("<=", 5),
        "madrs": ("<=", 10),
        "gad7": ("<", 5),
    }
    pcl5 = instruments["pcl5"]
    assert pcl5.scoring.cutoff is not None and pcl5.scoring.cutoff.value == 33
    assert pcl5.outcomes.remission is not None and pcl5.outcomes.remission.below_cutoff
    assert pcl5.outcomes.response is None
    assert [(lvl.code, lvl.min_drop_points) for lvl in pcl5.outcomes.improvement_levels] == [
        ("reliable_change", 5),
        ("clinically_meaningful", 10),
    ]
    pain = instruments["pain_nrs"]
    assert pain.outcomes.response is None
    assert [(lvl.code, lvl.min_reduction_percent) for lvl in pain.outcomes.improvement_levels] == [
        ("moderate", 30),
        ("substantial", 50),
    ]


def test_unlicensed_wording_is_not_shipped():
    instruments = load_instruments()
    for code in ("madrs", "cadss6", "qids_sr16"):
        assert all("text supplied by the clinic" in i.text for i in instruments[code].items), code
        assert "supplied by the clinic" in instruments[code].license or "supplies" in (
            instruments[code].license
        )


def test_a_clinic_file_with_a_higher_version_replaces_the_shipped_one(tmp_path):
    data = shipped_yaml("madrs")
    data["version"] = 3
    for item in data["items"]:
        item["text"] = f"Clinic wording for MADRS item {item['number']}"
    write(tmp_path / "clinic", "madrs_licensed.yaml", data)

    instruments = load_instruments([tmp_path / "clinic"])

    madrs = instruments["madrs"]
    assert madrs.version == 3
    assert madrs.items[0].text == "Clinic wording for MADRS item 1"
    assert score(madrs, [2] * 10).version == 3
    assert load_instruments()["madrs"].version == 2  # the shipped cache is untouched


def test_a_clinic_may_tighten_a_threshold_with_a_new_version(tmp_path):
    data = shipped_yaml("pcl5")
    data["version"] = 2
    data["scoring"]["cutoff"] = {"value": 31, "source": "clinic policy"}
    write(tmp_path, "pcl5.yaml", data)

    pcl5 = load_instruments([tmp_path])["pcl5"]

    assert score(pcl5, [2] * 15 + [1] + [0] * 4).above_cutoff is True  # total 31


def test_a_clinic_may_add_its_own_instrument(tmp_path):
    data = shipped_yaml("gad7")
    data["code"] = "clinic_gad2"
    data["items"] = data["items"][:2]
    data["scoring"] = {"kind": "sum", "min": 0, "max": 6, "source": "clinic"}
    data.pop("severity_bands")
    data.pop("outcomes")
    write(tmp_path, "gad2.yaml", data)

    instruments = load_instruments([tmp_path])

    assert score(instruments["clinic_gad2"], [3, 2]).total == 5
    assert "gad7" in instruments


@pytest.mark.parametrize("version", [1, 0])
def test_it_refuses_a_clinic_file_that_does_not_raise_the_version(tmp_path, version):
    data = shipped_yaml("phq9")
    data["version"] = version
    path = write(tmp_path, "phq9.yaml", data)

    with pytest.raises(InstrumentDefinitionError) as err:
        load_instruments([tmp_path])

    assert err.value.path == str(path)
    assert err.value.field == "version"


def test_it_refuses_two_clinic_files_for_one_code(tmp_path):
    data = shipped_yaml("phq9")
    data["version"] = 2
    write(tmp_path, "a.yaml", data)
    write(tmp_path, "b.yaml", data)

    with pytest.raises(InstrumentDefinitionError, match="also defined in"):
        load_instruments([tmp_path])


def test_it_refuses_a_missing_directory(tmp_path):
    with pytest.raises(InstrumentDefinitionError, match="not a directory"):
        load_instruments([tmp_path / "nope"])


def _broken(tmp_path: Path, change) -> InstrumentDefinitionError:
    data = copy.deepcopy(shipped_yaml("phq9"))
    data["version"] = 2
    change(data)
    path = write(tmp_path, "phq9_broken.yaml", data)
    with pytest.raises(InstrumentDefinitionError) as err:
        load_instrument_file(path)
    assert err.value.path == str(path)
    assert str(path) in str(err.value)
    return err.value


def test_it_names_the_field_of_a_band_gap(tmp_path):
    def gap(d):
        d["severity_bands"][1]["min"] = 6

    err = _broken(tmp_path, gap)
    assert err.field == "severity_bands.mild"
    assert "without gaps or overlaps" in err.message


def test_it_names_the_field_of_a_wrongly_typed_option(tmp_path):
    def bad_option(d):
        d["items"][3].pop("answers")
        d["items"][3]["options"] = [{"value": "zero", "label": "Not at all"}]

    err = _broken(tmp_path, bad_option)
    assert err.field == "items.3.options.0.value"
    assert err.message.startswith("must be an integer, or true/false for a yes/no item")


def test_it_names_an_unknown_answer_set(tmp_path):
    def unknown(d):
        d["items"][0]["answers"] = "frequencies"

    err = _broken(tmp_path, unknown)
    assert err.field == "items.0.answers"
    assert "frequencies" in err.message


def test_it_refuses_a_declared_range_the_items_cannot_give(tmp_path):
    def wrong_max(d):
        d["scoring"]["max"] = 28

    err = _broken(tmp_path, wrong_max)
    assert err.field == "scoring.max"
    assert err.message == "declared 28 but the items give 0-27"


def test_it_refuses_an_alert_on_an_item_that_does_not_exist(tmp_path):
    def bad_alert(d):
        d["alerts"][0]["item"] = 10

    err = _broken(tmp_path, bad_alert)
    assert err.field == "alerts.suicidality"
    assert "no item 10" in err.message


def test_it_refuses_an_unknown_alert_level(tmp_path):
    def bad_level(d):
        d["alerts"][0]["level"] = "panic"

    err = _broken(tmp_path, bad_level)
    assert err.field == "alerts.0.level"


def test_it_refuses_an_unknown_field(tmp_path):
    def typo(d):
        d["severity_band"] = d.pop("severity_bands")

    err = _broken(tmp_path, typo)
    assert err.field == "severity_band"


def test_it_refuses_items_out_of_order(tmp_path):
    def reorder(d):
        d["items"][0], d["items"][1] = d["items"][1], d["items"][0]

    err = _broken(tmp_path, reorder)
    assert "numbered" in err.message


def test_it_refuses_a_repeated_yaml_key(tmp_path):
    text = (DEFINITIONS / "gad7.yaml").read_text(encoding="utf-8")
    path = write(tmp_path, "gad7.yaml", text.replace("version: 1\n", "version: 2\nversion: 3\n"))

    with pytest.raises(InstrumentDefinitionError, match="repeated key 'version'"):
        load_instrument_file(path)


def test_it_refuses_text_that_is_not_yaml(tmp_path):
    path = write(tmp_path, "bad.yaml", "code: [unclosed\n")

    with pytest.raises(InstrumentDefinitionError, match="not valid YAML") as err:
        load_instrument_file(path)
    assert err.value.field is None


def test_a_yes_no_item_needs_both_answers():
    data = shipped_yaml("cssrs_screen")
    data["answer_sets"]["yes_no"] = [{"value": True, "label": "Yes"}]
    with pytest.raises(ValueError, match="exactly the options true and false"):
        Instrument.model_validate(data)


def test_risk_rules_must_name_known_levels():
    data = shipped_yaml("cssrs_screen")
    data["scoring"]["risk_rules"][0]["level"] = "severe"
    with pytest.raises(ValueError, match="unknown level 'severe'"):
        Instrument.model_validate(data)


def test_qids_domains_must_use_every_item_once():
    data = shipped_yaml("qids_sr16")
    data["scoring"]["domains"][0]["items"] = [1, 2, 3]
    with pytest.raises(ValueError, match="every item exactly once"):
        Instrument.model_validate(data)


def test_qids_alternatives_must_share_one_domain():
    data = shipped_yaml("qids_sr16")
    data["scoring"]["answer_one_of"][0]["items"] = [5, 6]
    with pytest.raises(ValueError, match="must share one domain"):
        Instrument.model_validate(data)


def test_alternatives_belong_to_a_max_of_group_scoring():
    data = shipped_yaml("gad7")
    data["scoring"]["answer_one_of"] = [{"items": [1, 2], "source": "test"}]
    with pytest.raises(ValueError, match="answer_one_of belongs to scoring.kind domain_max_sum"):
        Instrument.model_validate(data)


def test_definitions_are_frozen():
    phq9 = load_instruments()["phq9"]
    with pytest.raises(ValueError):
        phq9.version = 3  # type: ignore[misc]


# --- alerts on a skipped item -------------------------------------------------------


def test_phq9_and_qids_alert_on_their_suicidality_item_left_blank():
    instruments = load_instruments()
    for code, item in (("phq9", 9), ("qids_sr16", 12)):
        rules = [r for r in instruments[code].alerts if r.skipped]
        assert [(r.code, r.level, r.item) for r in rules] == [
            ("suicidality_unanswered", "high", item)
        ]
        assert "ask the patient directly" in rules[0].message
        assert rules[0].source.startswith("policy")


@pytest.mark.parametrize(
    "rule",
    [
        {"skipped": True},  # no item
        {"item": 9, "skipped": True, "op": ">", "value": 0},  # two triggers
        {"item": 9, "skipped": True, "severity_in": ["severe"]},
        {"item": 9, "op": ">"},  # half a comparison
        {"item": 9},  # no trigger at all
    ],
)
def test_an_alert_rule_needs_exactly_one_trigger(rule):
    data = shipped_yaml("phq9")
    data["alerts"] = [
        {"code": "x", "level": "high", "message": "m", "source": "test", **rule},
    ]
    with pytest.raises(ValueError, match="an alert rule needs either"):
        Instrument.model_validate(data)


def test_a_skipped_alert_cannot_name_an_item_left_blank_by_design():
    data = shipped_yaml("qids_sr16")
    data["alerts"].append(
        {"code": "x", "level": "high", "message": "m", "source": "test", "item": 7, "skipped": True}
    )
    with pytest.raises(ValueError, match="item 7 may be left blank by design"):
        Instrument.model_validate(data)


@pytest.mark.parametrize(
    ("item10", "expected"),
    [(3, []), (4, [("suicidality", "high")]), (6, [("suicidality", "high")])],
)
def test_madrs_item_10_at_4_or_more_opens_a_suicidality_alert(item10, expected):
    madrs = load_instruments()["madrs"]
    result = score(madrs, [1] * 9 + [item10])
    assert [(a.code, a.level) for a in result.alerts] == expected


def test_every_depression_scale_keeps_its_suicidality_rule_in_its_file():
    items = {"phq9": 9, "qids_sr16": 12, "madrs": 10}
    for code, item in items.items():
        rules = [r for r in load_instruments()[code].alerts if r.code == "suicidality"]
        assert [r.item for r in rules] == [item], code
