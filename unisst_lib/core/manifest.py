"""The data manifest: every data set the kit knows, validated on load.

``data_manifest.yaml`` (top level of the repository, shipped inside the package
too) lists the SST sources and data sets, the regions, the train/val/test
splits, the cloud data sets, the archives of daily files (L3) and their truth,
the L3 products downloaded as daily files (``l3_products``),
the liquid-water-path thresholds and the embedded twin's sizes. Everything else
asks the manifest instead of hard-coding them.

Examples
--------
>>> m = load_manifest()
>>> m.regions["natl_subtropical"].lat_min
20.0
>>> m.thresholds.default
70.0
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from unisst_lib.core.errors import ManifestError

MANIFEST_ENV = "UNISST_MANIFEST"
SPLIT_NAMES = ("train", "val", "test")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Region(_Strict):
    """A lat/lon box of grid-cell centres, bounds inclusive, in degrees."""

    description: str = ""
    lat_min: float = Field(ge=-90, le=90, description="southern bound, degrees_north")
    lat_max: float = Field(ge=-90, le=90, description="northern bound, degrees_north")
    lon_min: float = Field(ge=-180, le=360, description="western bound, degrees_east")
    lon_max: float = Field(ge=-180, le=360, description="eastern bound, degrees_east")
    resolution_deg: float = Field(gt=0, description="grid spacing, degrees")

    @model_validator(mode="after")
    def _ordered(self) -> Region:
        if self.lat_min >= self.lat_max or self.lon_min >= self.lon_max:
            raise ValueError("need lat_min < lat_max and lon_min < lon_max")
        return self

    @property
    def ny(self) -> int:
        """Number of grid rows (latitudes)."""
        return round((self.lat_max - self.lat_min) / self.resolution_deg) + 1

    @property
    def nx(self) -> int:
        """Number of grid columns (longitudes)."""
        return round((self.lon_max - self.lon_min) / self.resolution_deg) + 1

    def latitudes(self) -> np.ndarray:
        """Grid-cell-centre latitudes, south to north, degrees_north, shape (ny,)."""
        return self.lat_min + self.resolution_deg * np.arange(self.ny)

    def longitudes(self) -> np.ndarray:
        """Grid-cell-centre longitudes, west to east, degrees_east, shape (nx,)."""
        return self.lon_min + self.resolution_deg * np.arange(self.nx)


class Normalisation(_Strict):
    std_factor: float = Field(gt=0)
    occluded_fill_value: float


class SSTSource(_Strict):
    description: str = ""
    provider: Literal["copernicus_marine", "embedded"]
    product_id: str
    dataset_id: str
    variable: str
    units: Literal["degrees_C", "K"]
    frequency_hours: int = Field(gt=0)
    depth_m: float = Field(ge=0)
    available: bool


class SSTDataset(_Strict):
    source: str
    region: str
    start: dt.datetime
    end: dt.datetime
    file: str

    @model_validator(mode="after")
    def _ordered(self) -> SSTDataset:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class ArchiveDataset(_Strict):
    """A data set of many files matched by a glob (an L3 archive, one file a day), or one file.

    ``role`` ``truth``: the gap-free field an embedded archive was made from, for
    tests and the benchmark only (never for training or model choice); an
    archive names its truth in ``truth``.
    """

    description: str = ""
    source: str
    region: str
    start: dt.datetime
    end: dt.datetime
    files: str = Field(description="glob (or one file) relative to the data directory")
    role: Literal["observations", "truth"] = "observations"
    truth: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ArchiveDataset:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class L3Product(_Strict):
    """A satellite L3 product downloaded as daily files (``unisst download l3``).

    ``verified`` says whether ``product_id`` / ``dataset_id`` were confirmed in
    public sources (cited in the manifest); an unverified entry is still usable,
    with a warning. ``start``/``end`` are the default period (whole days, UTC),
    ``coverage_start``/``coverage_end`` what the service holds (``coverage_end``
    null: near real time, up to ``latency_days`` before today).
    """

    description: str = ""
    verified: bool
    provider: Literal["copernicus_marine"]
    product_id: str = Field(pattern=r"^[A-Z0-9_]+$")
    dataset_id: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    variable: str = Field(min_length=1, description="the SST variable")
    variables: tuple[str, ...] = Field(min_length=1, description="every variable requested")
    units: Literal["K"]
    cadence: Literal["P1D"]
    coverage_start: dt.date
    coverage_end: dt.date | None = None
    latency_days: int = Field(0, ge=0, le=60)
    region: str
    start: dt.date
    end: dt.date
    directory: str = Field(description="folder of the daily files, relative to the data directory")
    file_suffix: str = Field(
        pattern=r"^[A-Za-z0-9_.\-]+\.nc$", description="file name after 'YYYYMMDDhhmmss-'"
    )

    @model_validator(mode="after")
    def _consistent(self) -> L3Product:
        if self.variable not in self.variables:
            raise ValueError(f"variable {self.variable!r} must be one of variables")
        if len(set(self.variables)) != len(self.variables):
            raise ValueError("variables must not repeat a name")
        if self.start >= self.end:
            raise ValueError("start must be before end (at least two days)")
        if self.start < self.coverage_start:
            raise ValueError(f"start {self.start} is before coverage_start {self.coverage_start}")
        if self.coverage_end is not None and self.end > self.coverage_end:
            raise ValueError(f"end {self.end} is after coverage_end {self.coverage_end}")
        if Path(self.directory).is_absolute() or ".." in Path(self.directory).parts:
            raise ValueError("directory must be relative to the data directory, without '..'")
        return self


class SplitSelection(_Strict):
    """Which sequences of a data set make one split.

    ``span`` keeps the sequences lying wholly inside a fraction ``[lo, hi)`` of the
    data set's time axis: a held-out period, so validation and training frames are
    never hours apart.
    """

    dataset: str
    phases: tuple[int, ...] = Field(min_length=1)
    first: int = Field(0, ge=0)
    stop: int | None = Field(None, ge=0)
    span: tuple[float, float] = (0.0, 1.0)

    @model_validator(mode="after")
    def _span(self) -> SplitSelection:
        lo, hi = self.span
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"span {list(self.span)} must satisfy 0 <= lo < hi <= 1")
        return self


class SplitSet(_Strict):
    """How sequences are cut (``seq_len`` frames ``interval_hours`` apart) and the three splits."""

    seq_len: int = Field(ge=2)
    interval_hours: int = Field(ge=1)
    train: SplitSelection
    val: SplitSelection
    test: SplitSelection

    @model_validator(mode="after")
    def _phases(self) -> SplitSet:
        for name in SPLIT_NAMES:
            bad = [p for p in getattr(self, name).phases if not 0 <= p < self.interval_hours]
            if bad:
                raise ValueError(
                    f"{name}.phases {bad} outside 0..{self.interval_hours - 1} "
                    f"(interval_hours={self.interval_hours})"
                )
        return self

    def split(self, name: str) -> SplitSelection:
        if name not in SPLIT_NAMES:
            raise ManifestError(f"unknown split {name!r}: use one of {', '.join(SPLIT_NAMES)}")
        return getattr(self, name)


class CloudDataset(_Strict):
    description: str = ""
    provider: Literal["figshare", "embedded"]
    file: str
    units: Literal["kg m-2"]
    expected_shape: tuple[int, int, int]
    min_steps: int = Field(gt=0)
    cloud_interval: int = Field(gt=0, description="cloud steps between successive frames")
    split_fractions: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.7, "val": 0.15, "test": 0.15},
        description="share of the cloud record each split draws from (disjoint segments)",
    )
    doi: str | None = None
    doi_alternative: str | None = None
    article_id: int | None = None
    article_id_alternative: int | None = None
    file_name: str | None = None
    md5: str | None = None

    @model_validator(mode="after")
    def _fractions(self) -> CloudDataset:
        f = self.split_fractions
        if set(f) != set(SPLIT_NAMES) or any(v <= 0 for v in f.values()):
            raise ValueError(
                f"split_fractions must give a positive share to each of {', '.join(SPLIT_NAMES)}, "
                f"got {f}"
            )
        if abs(sum(f.values()) - 1.0) > 1e-9:
            raise ValueError(f"split_fractions must add up to 1, got {sum(f.values()):g}")
        return self


class Thresholds(_Strict):
    units: Literal["g m-2"]
    studied: tuple[float, ...] = Field(min_length=1)
    default: float = Field(gt=0, lt=1000)

    @property
    def default_kgm2(self) -> float:
        """The default threshold in kg m-2 (the cloud arrays' units)."""
        return self.default / 1000.0


class SSTDownload(_Strict):
    """How ``unisst download sst`` asks Copernicus Marine for the SST."""

    default_variant: str
    variants: dict[str, str] = Field(min_length=1, description="split set -> what it gives")
    margin_deg: float = Field(ge=0, le=5, description="requested around the region, degrees")
    depth_range_m: tuple[float, float] = Field(description="minimum, maximum depth, m")

    @model_validator(mode="after")
    def _default(self) -> SSTDownload:
        if self.default_variant not in self.variants:
            raise ValueError(
                f"default_variant {self.default_variant!r} is not one of the variants "
                f"({', '.join(self.variants)})"
            )
        if self.depth_range_m[0] > self.depth_range_m[1]:
            raise ValueError("depth_range_m must be [minimum, maximum]")
        return self


class CloudDownload(_Strict):
    """How ``unisst download clouds`` talks to figshare."""

    api_url: str = Field(pattern=r"^https?://")
    download_urls: tuple[str, ...] = Field(min_length=1)
    timeout_s: float = Field(gt=0)
    retries: int = Field(ge=0)


class Download(_Strict):
    sst: SSTDownload
    clouds: CloudDownload


class TwinL3Size(_Strict):
    """The embedded L3 archive of one twin size: days from the start, grid, absent days."""

    days: int = Field(gt=0)
    ny: int = Field(ge=2)
    nx: int = Field(ge=2)
    absent_days: tuple[int, ...] = Field(default=(), description="day indices with no file")

    @model_validator(mode="after")
    def _absent(self) -> TwinL3Size:
        bad = [d for d in self.absent_days if not 0 <= d < self.days]
        if bad or len(set(self.absent_days)) != len(self.absent_days):
            raise ValueError(f"absent_days must be distinct days in 0..{self.days - 1}")
        return self


class TwinSize(_Strict):
    train_val_hours: int = Field(gt=0)
    test_hours: int = Field(gt=0)
    cloud_steps: int = Field(gt=0)
    nx: int = Field(ge=64)
    ny: int = Field(ge=64)
    l3: TwinL3Size | None = None


class Twin(_Strict):
    generator: Literal["sqg_v1"]
    seed: int = Field(ge=0)
    sizes: dict[str, TwinSize]
    reference_platform: str = ""
    checksums: dict[str, dict[str, str]] = Field(default_factory=dict)


class Manifest(_Strict):
    """The whole manifest. Cross-references (source, region, data set names) are checked."""

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    manifest_version: Literal[1]
    regions: dict[str, Region]
    normalisation: Normalisation
    sst_sources: dict[str, SSTSource]
    sst_datasets: dict[str, SSTDataset]
    splits: dict[str, SplitSet]
    clouds: dict[str, CloudDataset]
    download: Download
    thresholds: Thresholds
    twin: Twin
    archives: dict[str, ArchiveDataset] = Field(default_factory=dict)
    l3_products: dict[str, L3Product] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Manifest:
        for name, ds in self.sst_datasets.items():
            if ds.source not in self.sst_sources:
                raise ValueError(
                    f"sst_datasets.{name}.source: unknown source {ds.source!r} "
                    f"(known: {', '.join(self.sst_sources)})"
                )
            if ds.region not in self.regions:
                raise ValueError(
                    f"sst_datasets.{name}.region: unknown region {ds.region!r} "
                    f"(known: {', '.join(self.regions)})"
                )
        for name, split_set in self.splits.items():
            for split in SPLIT_NAMES:
                ref = split_set.split(split).dataset
                if ref not in self.sst_datasets:
                    raise ValueError(
                        f"splits.{name}.{split}.dataset: unknown data set {ref!r} "
                        f"(known: {', '.join(self.sst_datasets)})"
                    )
        for name, ar in self.archives.items():
            for key, ref, table in (("source", ar.source, self.sst_sources),
                                    ("region", ar.region, self.regions),
                                    ("truth", ar.truth, self.archives)):  # fmt: skip
                if ref is not None and ref not in table:
                    raise ValueError(
                        f"archives.{name}.{key}: unknown {key} {ref!r} (known: {', '.join(table)})"
                    )
            if ar.truth is not None and self.archives[ar.truth].role != "truth":
                raise ValueError(f"archives.{name}.truth: {ar.truth!r} has no role 'truth'")
        for name, l3 in self.l3_products.items():
            if l3.region not in self.regions:
                raise ValueError(
                    f"l3_products.{name}.region: unknown region {l3.region!r} "
                    f"(known: {', '.join(self.regions)})"
                )
        for variant in self.download.sst.variants:
            if variant not in self.splits:
                raise ValueError(
                    f"download.sst.variants.{variant}: not a split set "
                    f"(known: {', '.join(self.splits)})"
                )
            for split in SPLIT_NAMES:
                ds = self.splits[variant].split(split).dataset
                src = self.sst_datasets[ds].source
                if self.sst_sources[src].provider != "copernicus_marine":
                    raise ValueError(
                        f"download.sst.variants.{variant}: its {split} data set {ds!r} "
                        f"is not a Copernicus Marine one (source {src!r})"
                    )
        return self

    # -- look-ups with clear errors ---------------------------------------
    def sst_dataset(self, name: str) -> SSTDataset:
        return _lookup(self.sst_datasets, name, "sst_datasets")

    def region_of(self, dataset: str) -> Region:
        return self.regions[self.sst_dataset(dataset).region]

    def source_of(self, dataset: str) -> SSTSource:
        return self.sst_sources[self.sst_dataset(dataset).source]

    def split_set(self, name: str) -> SplitSet:
        return _lookup(self.splits, name, "splits")

    def cloud_dataset(self, name: str) -> CloudDataset:
        return _lookup(self.clouds, name, "clouds")

    def archive(self, name: str) -> ArchiveDataset:
        return _lookup(self.archives, name, "archives")

    def l3_product(self, name: str) -> L3Product:
        return _lookup(self.l3_products, name, "l3_products")

    def twin_size(self, size: str) -> TwinSize:
        return _lookup(self.twin.sizes, size, "twin.sizes")


def _lookup(table: dict, name: str, where: str):
    try:
        return table[name]
    except KeyError as err:
        raise ManifestError(
            f"{name!r} is not in the manifest's {where} (known: {', '.join(table)})"
        ) from err


def default_manifest_path() -> Path:
    """``$UNISST_MANIFEST`` if set, else the repository's manifest, else the packaged copy."""
    env = os.environ.get(MANIFEST_ENV)
    if env:
        return Path(env)
    repo_copy = Path(__file__).resolve().parents[2] / "data_manifest.yaml"
    if repo_copy.is_file():
        return repo_copy
    return Path(str(resources.files("unisst_lib") / "data_manifest.yaml"))


def load_manifest(path: str | os.PathLike[str] | None = None) -> Manifest:
    """Read and validate a manifest.

    Parameters
    ----------
    path
        A YAML file; default :func:`default_manifest_path`.

    Raises
    ------
    ManifestError
        The file is missing, is not YAML, or a key is missing, unknown or has a
        bad value; the message names the key (e.g. ``regions.natl_subtropical.lat_min``).
    """
    path = Path(path) if path is not None else default_manifest_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ManifestError(
            f"cannot read the data manifest {path}: {err.strerror or err}. "
            f"Point ${MANIFEST_ENV} at a data_manifest.yaml or reinstall unisst."
        ) from err
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ManifestError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ManifestError(f"{path} must hold a YAML mapping at the top level")
    return manifest_from_dict(raw, source=str(path))


def manifest_from_dict(raw: dict, *, source: str = "<dict>") -> Manifest:
    """Validate a manifest given as a dict (see :func:`load_manifest`)."""
    try:
        return Manifest.model_validate(raw)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"]) or "(top level)"
            msg = e["msg"]
            if e["type"] == "extra_forbidden":
                msg = "unknown key (a typo?)"
            elif e["type"] == "missing":
                msg = "missing key"
            problems.append(f"{key}: {msg}")
        raise ManifestError(
            f"invalid data manifest {source}: " + "; ".join(problems) + ". Fix these keys."
        ) from err
