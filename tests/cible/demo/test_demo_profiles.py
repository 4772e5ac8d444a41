"""Generator profiles: the built-in one changes nothing, the second one (``contrast``) makes
other data the loader takes whole, and a malformed profile is refused with a clear error."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cible.contract import load_contract
from cible.demo import generate
from cible.demo.__main__ import main
from cible.demo.profile import DEFAULT_PROFILE, PROFILES_DIR, GeneratorProfile, load_profile
from cible.loader import load_landing
from cible.yaml_config import ConfigError

CONTRAST = PROFILES_DIR / "contrast.yml"
CONTRAST_PERSONS = 3000


@pytest.fixture(scope="module")
def contrast(tmp_path_factory):
    """The contrast profile, 3,000 persons in two chunks, mixed formats, loaded by the loader."""
    root = tmp_path_factory.mktemp("contrast")
    manifest = generate(
        root / "landing",
        root / "truth",
        n_customers=CONTRAST_PERSONS,
        seed=5,
        chunk_size=1500,
        profile="contrast",
    )
    report = load_landing(root / "landing", root / "warehouse.duckdb")
    return root, manifest, report


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def _manifest(root: Path) -> dict:
    manifest = json.loads((root / "truth" / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("elapsed_seconds")
    manifest["profile"].pop("source")
    return manifest


def test_the_default_profile_given_explicitly_or_from_yaml_changes_nothing(tmp_path):
    # The YAML round trip checks that a file can state the built-in profile exactly.
    dumped = tmp_path / "maison.yml"
    dumped.write_text(yaml.safe_dump(DEFAULT_PROFILE.model_dump(mode="json")), encoding="utf-8")
    runs = {}
    for name, profile in (("none", None), ("object", DEFAULT_PROFILE), ("yaml", dumped)):
        root = tmp_path / name
        generate(root / "landing", root / "truth", n_customers=300, seed=3, profile=profile)
        runs[name] = root
    reference = _files(runs["none"])
    assert len(reference) > 15
    assert _files(runs["object"]) == reference
    assert _files(runs["yaml"]) == reference
    assert _manifest(runs["object"]) == _manifest(runs["none"]) == _manifest(runs["yaml"])
    assert _manifest(runs["none"])["profile"]["name"] == "maison"


def test_contrast_files_follow_the_contract_and_load_whole(contrast):
    root, manifest, report = contrast
    contracts = load_contract()
    with (root / "landing" / "customers.csv").open(encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == list(contracts["customers"].column_names)
    assert report.reconciled and not report.warnings
    for source in report.sources:
        written = manifest["sources"][source.name]
        assert source.rows_loaded == written["rows"], source.name
        assert source.rows_rejected == written["malformed_lines"], source.name
        assert source.rows_loaded > 0, source.name


def test_contrast_truth_records_the_profile_and_its_persona_shares(contrast):
    root, manifest, _ = contrast
    profile = load_profile(CONTRAST)
    assert manifest["profile"]["name"] == "contrast"
    assert manifest["profile"]["settings"]["personas"][0]["name"] == profile.personas[0].name
    persons = pd.read_parquet(root / "truth" / "persons.parquet")
    assert len(persons) == CONTRAST_PERSONS
    observed = persons["persona"].value_counts(normalize=True)
    assert set(observed.index) == {p.name for p in profile.personas}
    for persona in profile.personas:
        sampling_error = math.sqrt(persona.share * (1 - persona.share) / CONTRAST_PERSONS)
        assert abs(observed[persona.name] - persona.share) < 4 * sampling_error, persona.name


def test_contrast_defects_follow_its_rates_not_the_maisons(contrast):
    root, _, _ = contrast
    profile = load_profile(CONTRAST)
    defects = json.loads((root / "truth" / "defects.json").read_text(encoding="utf-8"))
    assert defects["rates"] == profile.defect_rates()
    # Missing phones: 20% of clean primary records in this profile, 10% in the Maison's.
    rate = profile.defects.customers.missing_phone
    assert rate != DEFAULT_PROFILE.defects.customers.missing_phone
    assert abs(defects["customers"]["missing_phone"] / CONTRAST_PERSONS - rate) < 0.04
    events = defects["events"]["duplicate_event"] / defects["rows_written"]["events"]
    assert abs(events - profile.defects.events.duplicate_event) < 0.01


def _contrast_with(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(CONTRAST.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "profile.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _rename_share(data):
    data["personas"][1]["shar"] = data["personas"][1].pop("share")


def _shares_off(data):
    data["personas"][0]["share"] = 0.5


def _negative_rate(data):
    data["personas"][2]["base_rate"] = -1.0


def _negative_defect(data):
    data["defects"]["orders"]["unknown_customer"] = -0.1


def _unknown_category(data):
    data["personas"][3]["categories"]["sneakers"] = 0.5


def _numeric_departement(data):
    data["personas"][4]["departements"] = {69: 1.0}


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (_rename_share, ["personas[1].shar", "unknown setting", "did you mean share"]),
        (_shares_off, ["personas", "must add up to 1, found 1.28"]),
        (_negative_rate, ["personas[2].base_rate", "must be at least 0"]),
        (_negative_defect, ["defects.orders.unknown_customer", "must be at least 0"]),
        (_unknown_category, ["personas[3].categories", "'sneakers'"]),
        (_numeric_departement, ["personas[4].departements", "in quotes"]),
    ],
)
def test_a_malformed_profile_is_refused_with_the_field_named(tmp_path, capsys, change, names):
    path = _contrast_with(tmp_path, change)
    landing, truth = tmp_path / "landing", tmp_path / "truth"
    with pytest.raises(ConfigError) as raised:
        generate(landing, truth, n_customers=50, profile=path)
    for name in names:
        assert name in str(raised.value)
    assert not landing.exists()  # refused before anything was written
    arguments = ["--customers", "50", "--landing", str(landing), "--truth", str(truth)]
    code = main([*arguments, "--profile", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and names[0] in err and "Traceback" not in err


def test_an_unknown_profile_name_lists_the_built_in_ones(tmp_path):
    with pytest.raises(ConfigError, match="maison, contrast"):
        generate(tmp_path / "l", tmp_path / "t", n_customers=10, profile="no_such_profile")


def test_a_profile_built_in_python_is_checked_too():
    three = DEFAULT_PROFILE.personas[:3]
    with pytest.raises(ValueError, match=r"shares must add up to 1, found 0\.46"):
        GeneratorProfile(name="partial", personas=three)
