"""The audiences config: validated like the other configs, unknown segments and columns
refused with the setting to fix."""

import pytest
import yaml

from cible import settings
from cible.activation.config import (
    load_audiences_config,
    parse_audiences_config,
)
from cible.yaml_config import ConfigError

AUDIENCE = {
    "name": "vip",
    "segment": "rfm_champions",
    "purpose": "email",
    "filters": {"column": "purchase_30d_decile", "op": ">=", "value": 8},
}


def _write(tmp_path, audiences, **extra):
    path = tmp_path / "audiences.yml"
    path.write_text(yaml.safe_dump({"version": 1, "audiences": audiences, **extra}))
    return path


def test_the_shipped_audiences_load_against_the_segmentation_config():
    config = load_audiences_config(settings.CONFIG_DIR / "audiences.yml")
    assert {a.purpose for a in config.audiences} == {"email", "sms", "ads"}
    assert {a.destination.identifier for a in config.audiences} == {"plain", "hmac_sha256"}
    assert any(a.destination.type == "webhook" and not a.enabled for a in config.audiences)


def test_an_unknown_segment_is_refused_naming_the_setting(tmp_path):
    path = _write(tmp_path, [{**AUDIENCE, "segment": "rfm_champs"}])
    with pytest.raises(ConfigError) as error:
        load_audiences_config(path)
    assert "audiences[0].segment: unknown segment 'rfm_champs'" in str(error.value)
    assert "rfm_champions" in str(error.value)  # the known ids are listed


def test_an_unknown_cluster_is_refused_against_the_built_segments(tmp_path):
    path = _write(tmp_path, [{**AUDIENCE, "segment": "cluster_09"}])
    with pytest.raises(ConfigError, match="unknown segment 'cluster_09'"):
        load_audiences_config(path, segments=["cluster_01", "cluster_02", "rfm_champions"])
    assert load_audiences_config(path, segments=["cluster_09"]).audiences[0].segment


def test_an_unknown_filter_column_is_refused(tmp_path):
    bad = {**AUDIENCE, "filters": {"column": "purchase_30d_decil", "op": ">=", "value": 8}}
    path = _write(tmp_path, [bad])
    with pytest.raises(ConfigError) as error:
        load_audiences_config(path, columns=["purchase_30d_decile", "customer_id"])
    assert "audiences[0].filters: column 'purchase_30d_decil' does not exist" in str(error.value)


def test_every_problem_is_listed_at_once():
    data = {
        "version": 1,
        "audiences": [
            {**AUDIENCE, "purpose": "fax", "holdout_share": 0.9},
            {**AUDIENCE, "destination": {"type": "webhook"}},
            {**AUDIENCE, "name": "Bad Name", "filters": {"column": "x", "op": "~"}},
        ],
    }
    with pytest.raises(ConfigError) as error:
        parse_audiences_config(data)
    text = str(error.value)
    assert "audiences[0].purpose: unknown value 'fax'" in text
    assert "audiences[0].holdout_share: must be at most 0.5" in text
    assert "needs url or url_env" in text
    assert "audiences[2].name" in text and "audiences[2].filters" in text
    assert "audiences[1].name: 'vip' is already audiences[0]" in text


def test_the_fingerprint_changes_with_the_definition_only():
    base = parse_audiences_config({"audiences": [AUDIENCE]}).audiences[0]
    same = parse_audiences_config(
        {"audiences": [{**AUDIENCE, "description": "new text", "schedule": "weekly"}]}
    ).audiences[0]
    other = parse_audiences_config({"audiences": [{**AUDIENCE, "holdout_share": 0.2}]})
    assert base.fingerprint() == same.fingerprint()
    assert base.fingerprint() != other.audiences[0].fingerprint()
