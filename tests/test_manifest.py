"""The data manifest: loads, is consistent, and names bad keys clearly."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from unisst_lib.core.errors import ManifestError
from unisst_lib.core.manifest import load_manifest, manifest_from_dict

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load((ROOT / "data_manifest.yaml").read_text())


def test_paper_regions_are_64_by_64_at_one_twelfth_degree():
    m = load_manifest()
    for name in ("natl_subtropical", "satl_subtropical"):
        r = m.regions[name]
        assert (r.ny, r.nx) == (64, 64)
        np.testing.assert_allclose(np.diff(r.latitudes()), 1 / 12)
        assert r.latitudes()[-1] == pytest.approx(r.lat_max)
        assert r.longitudes()[-1] == pytest.approx(r.lon_max)
    assert m.regions["natl_subtropical"].lat_min == 20.0
    assert m.regions["satl_subtropical"].lat_max == -14.75


def test_paper_configuration():
    m = load_manifest()
    s = m.split_set("paper")
    assert (s.seq_len, s.interval_hours) == (24, 6)
    assert s.train.phases == (0, 1, 2, 3, 4, 5) and s.val.phases == (0, 3)
    assert s.train.span == (0.0, 0.8) and s.val.span == (0.82, 1.0)  # a held-out period
    assert m.source_of("paper_train_val").available is False
    assert m.source_of("anfc_train_val").dataset_id == "cmems_mod_glo_phy_anfc_0.083deg_PT1H-m"
    assert m.source_of("reanalysis_test").frequency_hours == 24
    assert m.normalisation.std_factor == 3.0
    assert m.thresholds.studied == (55, 60, 65, 70, 75, 80)
    assert m.thresholds.default_kgm2 == pytest.approx(0.070)
    fig = m.cloud_dataset("figshare")
    assert fig.file_name == "cloud_dataset.npy" and fig.units == "kg m-2"
    assert fig.doi == "10.6084/m9.figshare.9145016" and fig.cloud_interval == 10


def test_every_split_refers_to_a_known_dataset_and_region():
    m = load_manifest()
    for split_set in m.splits.values():
        for split in ("train", "val", "test"):
            ds = m.sst_dataset(split_set.split(split).dataset)
            assert ds.region in m.regions


def test_full_twin_covers_the_manifest_periods():
    m = load_manifest()
    full = m.twin_size("full")
    for name, hours in (("twin_train_val", full.train_val_hours), ("twin_test", full.test_hours)):
        ds = m.sst_dataset(name)
        assert (ds.end - ds.start).total_seconds() / 3600 + 1 == hours


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda r: r["regions"]["natl_subtropical"].pop("lat_min"), "regions.natl_subtropical"),
        (lambda r: r["regions"]["natl_subtropical"].update(lat_mn=3), "lat_mn"),
        (lambda r: r["sst_datasets"]["twin_test"].update(region="atlantis"), "atlantis"),
        (lambda r: r["splits"]["twin"]["val"].update(phases=[7]), "val.phases"),
        (lambda r: r["clouds"]["twin"].update(units="g m-2"), "clouds.twin.units"),
        (lambda r: r["thresholds"].update(default="seventy"), "thresholds.default"),
        (lambda r: r["twin"]["sizes"]["tiny"].update(nx=32), "twin.sizes.tiny.nx"),
    ],
)
def test_bad_keys_are_named(raw, edit, key):
    bad = copy.deepcopy(raw)
    edit(bad)
    with pytest.raises(ManifestError, match=key.replace(".", r"\.")):
        manifest_from_dict(bad)


def test_unknown_lookup_lists_known_names():
    m = load_manifest()
    with pytest.raises(ManifestError, match="known: .*twin_test"):
        m.sst_dataset("twin_tset")


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ManifestError, match="cannot read the data manifest"):
        load_manifest(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("regions: [unclosed\n")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_manifest(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ManifestError, match="mapping"):
        load_manifest(bad)


def test_env_variable_points_at_another_manifest(tmp_path, monkeypatch, raw):
    other = copy.deepcopy(raw)
    other["twin"]["seed"] = 7
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(other))
    monkeypatch.setenv("UNISST_MANIFEST", str(path))
    assert load_manifest().twin.seed == 7
