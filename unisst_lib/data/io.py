"""Reading and writing SST (netCDF) and cloud (npy) files.

The same readers serve the embedded twin and the real products:

* :func:`open_sst` opens a Copernicus Marine subset (``thetao``), a GHRSST file
  (``analysed_sst`` in Kelvin) or any CF file with an SST-like variable, and
  returns ``sst (time, latitude, longitude)`` in °C with NaN where missing.
* :func:`load_clouds` opens a liquid-water-path array like the figshare
  ``cloud_dataset.npy``: ``(n_steps, ny, nx)`` in kg m-2, memory-mapped.
* :func:`write_sst_netcdf` writes SST in the Copernicus Marine layout
  (``thetao(time, depth, latitude, longitude)``, int16 packing), atomically.
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import numpy as np
import xarray as xr

from unisst_lib.core.errors import (
    CloudDataError,
    CorruptFileError,
    DataNotFoundError,
    FileAccessError,
    GridError,
    MissingDependencyError,
    SSTVariableNotFoundError,
    UnisstError,
)
from unisst_lib.core.paths import atomic_path

log = logging.getLogger(__name__)

SST_NAMES = ("thetao", "analysed_sst", "sst", "sea_surface_temperature", "tos", "SST")
SST_STANDARD_NAMES = (
    "sea_water_potential_temperature",
    "sea_surface_temperature",
    "sea_surface_foundation_temperature",
    "sea_surface_subskin_temperature",
    "sea_surface_skin_temperature",
    "sea_water_temperature",
)
_CELSIUS = {"degrees_c", "degree_c", "degc", "celsius", "°c", "deg_c", "c", "degrees_celsius"}
_KELVIN = {"k", "kelvin", "degrees_k", "degree_k"}

# Packing of thetao in the Copernicus Marine 1/12° products (int16): 0.00073 °C steps.
CMEMS_SCALE_FACTOR = 0.000732444
CMEMS_ADD_OFFSET = 21.0
CMEMS_FILL_VALUE = np.int16(-32767)
TIME_UNITS = "hours since 1950-01-01 00:00:00"


# --------------------------------------------------------------------------- SST
def open_sst(
    path: str | os.PathLike[str],
    *,
    variable: str | None = None,
    chunks: dict[str, int] | None = None,
) -> xr.DataArray:
    """Open an SST file as ``sst (time, latitude, longitude)`` in °C.

    Parameters
    ----------
    path
        A netCDF file.
    variable
        The SST variable's name; default: the first of ``thetao``,
        ``analysed_sst``, ``sst``, … or any variable whose CF ``standard_name``
        is an SST one (``sea_water_potential_temperature``,
        ``sea_surface_temperature``, …).
    chunks
        Passed to :func:`xarray.open_dataset` for a lazy, dask-backed array
        (e.g. ``{"time": 240}``); ``None`` reads lazily without dask.

    Returns
    -------
    xarray.DataArray
        Named ``sst``, dims exactly ``("time", "latitude", "longitude")``,
        float32, °C, latitude ascending, NaN where missing (``_FillValue``).
        A depth axis is reduced to its shallowest level.

    Raises
    ------
    DataNotFoundError, CorruptFileError, SSTVariableNotFoundError, GridError
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"SST file {path} does not exist")
    ds = open_netcdf(path, chunks=chunks)
    name, da = select_sst(ds, variable, source=path)
    da = _to_celsius(da, path)
    da = da.astype(np.float32)
    da.name = "sst"
    da.attrs = {
        "units": "degrees_C",
        "long_name": "sea surface temperature",
        "standard_name": ds[name].attrs.get("standard_name", "sea_surface_temperature"),
        "source_variable": name,
        "source_file": str(path),
    }
    return da


#: The first bytes of the netCDF formats: classic/64-bit offset/CDF-5, and netCDF-4 (HDF5).
_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


def open_netcdf(path: str | os.PathLike[str], **kwargs) -> xr.Dataset:
    """:func:`xarray.open_dataset` (CF decoding on) with an error that names the real cause.

    Raises
    ------
    DataNotFoundError
        No such file.
    FileAccessError
        The file may not be read by this user.
    MissingDependencyError
        No installed xarray backend reads netCDF (netCDF4 or h5netcdf missing).
    CorruptFileError
        The file is not netCDF (wrong first bytes), or is netCDF that cannot be decoded
        (e.g. truncated); the original exception is kept as ``__cause__``.
    """
    path = Path(path)
    kwargs = {"mask_and_scale": True, "decode_times": True, **kwargs}
    try:
        return xr.open_dataset(path, **kwargs)
    except FileNotFoundError as err:
        raise DataNotFoundError(f"netCDF file {path} does not exist") from err
    except PermissionError as err:
        raise FileAccessError(
            f"cannot read {path}: permission denied. Check the file's permissions "
            f"(ls -l {path}) or copy it somewhere you can read."
        ) from err
    except Exception as err:  # netCDF4/h5netcdf/scipy raise many types for one bad file
        raise _netcdf_error(path, err) from err


def _netcdf_error(path: Path, err: Exception) -> UnisstError:
    """The most specific error for a netCDF file that xarray could not open."""
    with open(path, "rb") as f:
        head = f.read(8)
    what = f"{type(err).__name__}: {str(err)[:200]}"
    if not head.startswith(_NETCDF_MAGIC):
        return CorruptFileError(
            f"{path} is not a netCDF file (its first bytes are {head[:4]!r}; {what}): give a "
            "netCDF file (.nc) with an SST variable on (time, latitude, longitude)."
        )
    if isinstance(err, ValueError) and "backend" in str(err):
        return MissingDependencyError(
            f"no installed xarray backend reads {path} ({what}): install netCDF4 "
            "(pip install netCDF4) or h5netcdf."
        )
    return CorruptFileError(
        f"{path} looks like netCDF but cannot be decoded ({what}): it is probably truncated "
        "or damaged. If unisst downloaded or generated it, delete it and run that command "
        "again; otherwise check the copy you were given."
    )


def select_sst(
    ds: xr.Dataset, variable: str | None = None, *, source: str | os.PathLike[str] = "dataset"
) -> tuple[str, xr.DataArray]:
    """The SST variable of ``ds`` as ``(name, da)``, ``da`` in its own units and dtype.

    ``da`` has dims exactly ``("time", "latitude", "longitude")`` (a depth axis
    reduced to its shallowest level, latitude ascending) and stays lazy if
    ``ds`` is; ``source`` names the data in error messages. Raises
    :class:`SSTVariableNotFoundError` or :class:`GridError`.
    """
    name = _find_sst_variable(ds, variable, source)
    return name, _standard_axes(ds[name], source)


def _find_sst_variable(ds: xr.Dataset, variable: str | None, path) -> str:
    if variable is not None:
        if variable not in ds.data_vars:
            raise SSTVariableNotFoundError(
                f"{path} has no variable {variable!r}; it has: {', '.join(map(str, ds.data_vars))}"
            )
        return variable
    for name in SST_NAMES:
        if name in ds.data_vars:
            return name
    for name, var in ds.data_vars.items():
        if var.attrs.get("standard_name") in SST_STANDARD_NAMES:
            return str(name)
    raise SSTVariableNotFoundError(
        f"no sea-surface-temperature variable in {path}: looked for names "
        f"{', '.join(SST_NAMES)} and CF standard_names {', '.join(SST_STANDARD_NAMES)}; "
        f"the file has {', '.join(map(str, ds.data_vars)) or 'no data variables'}. "
        "Pass variable=NAME (--variable NAME) to pick one."
    )


def _axis_name(da: xr.DataArray, kind: str) -> str | None:
    """The dim of ``da`` that is the ``kind`` axis (latitude, longitude, time, depth)."""
    names = {
        "latitude": ("latitude", "lat", "nav_lat", "y"),
        "longitude": ("longitude", "lon", "nav_lon", "x"),
        "time": ("time", "t"),
        "depth": ("depth", "deptht", "lev", "z"),
    }[kind]
    units = {"latitude": ("degrees_north", "degree_north", "degree_N", "degrees_N")}.get(
        kind, ()
    ) + {"longitude": ("degrees_east", "degree_east", "degree_E", "degrees_E")}.get(kind, ())
    for dim in da.dims:
        coord = da.coords.get(dim)
        attrs = coord.attrs if coord is not None else {}
        if (
            attrs.get("standard_name") == kind
            or attrs.get("units") in units
            or (kind == "time" and attrs.get("axis") == "T")
            or (kind == "depth" and attrs.get("axis") == "Z")
        ):
            return str(dim)
    for dim in da.dims:
        if str(dim).lower() in names:
            return str(dim)
    return None


def _standard_axes(da: xr.DataArray, path) -> xr.DataArray:
    dims = {k: _axis_name(da, k) for k in ("time", "depth", "latitude", "longitude")}
    for kind in ("latitude", "longitude"):
        if dims[kind] is None:
            raise GridError(
                f"{path}: variable {da.name!r} has no {kind} axis (dims {da.dims}); unisst "
                f"needs a regular lat/lon grid with a '{kind}' coordinate in degrees."
            )
    if dims["time"] is None:
        raise GridError(
            f"{path}: variable {da.name!r} has no time axis (dims {da.dims}); unisst fills "
            "sequences of frames and needs a 'time' dimension."
        )
    if dims["depth"] is not None:
        depth = dims["depth"]
        if da.sizes[depth] > 1:
            log.info("%s: %d depth levels, keeping the shallowest", path, da.sizes[depth])
        if depth in da.coords:
            da = da.isel({depth: int(np.argmin(np.abs(da[depth].values)))})
        else:
            da = da.isel({depth: 0})
        da = da.drop_vars(depth, errors="ignore")
    rename = {dims[k]: k for k in ("time", "latitude", "longitude") if dims[k] != k}
    da = da.rename(rename)
    extra = [d for d in da.dims if d not in ("time", "latitude", "longitude")]
    for dim in extra:
        if da.sizes[dim] != 1:
            raise GridError(
                f"{path}: unexpected dimension {dim!r} of size {da.sizes[dim]} in "
                f"{da.name!r}; expected (time, [depth,] latitude, longitude)."
            )
        da = da.squeeze(dim, drop=True)
    da = da.transpose("time", "latitude", "longitude")
    if da.sizes["latitude"] > 1 and float(da.latitude[0]) > float(da.latitude[-1]):
        da = da.isel(latitude=slice(None, None, -1))
    if not np.issubdtype(da["time"].dtype, np.datetime64):
        raise GridError(
            f"{path}: the time axis could not be decoded to dates (dtype "
            f"{da['time'].dtype}); it needs CF units like 'hours since 1950-01-01'."
        )
    return da


def _to_celsius(da: xr.DataArray, path: Path) -> xr.DataArray:
    units = str(da.attrs.get("units", "")).strip().lower().replace(" ", "_")
    if units in _KELVIN:
        return da - 273.15
    if units in _CELSIUS:
        return da
    sample = da.isel(time=slice(0, 1)).values
    median = float(np.nanmedian(sample)) if np.isfinite(sample).any() else float("nan")
    if median > 150:
        log.warning("%s: SST has units %r; values look like Kelvin, converting", path, units)
        return da - 273.15
    log.warning("%s: SST has units %r; values look like °C, using them as °C", path, units)
    return da


_THETAO_ATTRS = {
    "standard_name": "sea_water_potential_temperature",
    "long_name": "Temperature",
    "units": "degrees_C",
    "unit_long": "Degrees Celsius",
    "valid_min": np.int16(-32766),
    "valid_max": np.int16(32767),
    "cell_methods": "area: mean",
}


def _axis(name: str, values, dtype, **attrs) -> tuple[str, np.ndarray, dict]:
    """A CF coordinate as xarray takes it: (dim, values, attrs), ``standard_name`` first."""
    return (name, np.asarray(values, dtype=dtype), {"standard_name": name, **attrs})


def _cmems_encoding(chunk_t: int, ny: int, nx: int) -> dict[str, dict]:
    """Copernicus Marine's packing: int16 thetao, compressed, in chunks of ``chunk_t`` frames."""
    return {
        "thetao": {
            "dtype": "int16",
            "scale_factor": CMEMS_SCALE_FACTOR,
            "add_offset": CMEMS_ADD_OFFSET,
            "_FillValue": CMEMS_FILL_VALUE,
            "zlib": True,
            "complevel": 1,
            "shuffle": True,
            "chunksizes": (chunk_t, 1, ny, nx),
        },
        "time": {"units": TIME_UNITS, "calendar": "standard", "dtype": "float64"},
        "depth": {"_FillValue": None},
        "latitude": {"_FillValue": None},
        "longitude": {"_FillValue": None},
    }


def write_sst_netcdf(
    sst: np.ndarray,
    path: str | os.PathLike[str],
    *,
    times: np.ndarray,
    latitudes: np.ndarray,
    longitudes: np.ndarray,
    depth_m: float,
    global_attrs: dict[str, str] | None = None,
) -> Path:
    """Write SST as Copernicus Marine does: ``thetao(time, depth, latitude, longitude)``.

    Parameters
    ----------
    sst
        (time, latitude, longitude) in °C; NaN is written as ``_FillValue``.
    times
        (time,) datetime64.
    latitudes, longitudes
        (latitude,) degrees_north and (longitude,) degrees_east, ascending.
    depth_m
        Depth of the single level, m (0.494 for the 1/12° products' surface).

    The variable is packed to int16 with ``scale_factor`` 0.000732444,
    ``add_offset`` 21 and ``_FillValue`` -32767 (as the products); the file is
    written to a temporary name and renamed, so ``path`` is never partial.
    """
    sst = np.asarray(sst)
    if sst.ndim != 3 or sst.shape != (len(times), len(latitudes), len(longitudes)):
        raise ValueError(
            f"sst must be (time, latitude, longitude) = "
            f"({len(times)}, {len(latitudes)}, {len(longitudes)}), got {sst.shape}"
        )
    lo = CMEMS_ADD_OFFSET - 32766 * CMEMS_SCALE_FACTOR
    hi = CMEMS_ADD_OFFSET + 32767 * CMEMS_SCALE_FACTOR
    finite = sst[np.isfinite(sst)]
    if finite.size and (finite.min() < lo or finite.max() > hi):
        raise ValueError(f"SST outside the packable range {lo:.2f}..{hi:.2f} °C")
    # Coordinates first, then the variable: the products' order (and the twin's bytes).
    ds = xr.Dataset(
        coords={
            "time": _axis("time", times, "datetime64[ns]", long_name="Time", axis="T"),
            "depth": _axis("depth", [depth_m], np.float32, long_name="Depth", units="m",
                           positive="down", axis="Z"),
            "latitude": _axis("latitude", latitudes, np.float32, long_name="Latitude",
                              units="degrees_north", axis="Y"),
            "longitude": _axis("longitude", longitudes, np.float32, long_name="Longitude",
                               units="degrees_east", axis="X"),
        },
        attrs={"Conventions": "CF-1.8", **(global_attrs or {})},
    )  # fmt: skip
    dims = ("time", "depth", "latitude", "longitude")
    ds["thetao"] = (dims, sst[:, None].astype(np.float32), dict(_THETAO_ATTRS))
    encoding = _cmems_encoding(min(len(times), 24), len(latitudes), len(longitudes))
    path = Path(path)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding=encoding)
    return path


# ------------------------------------------------------------------------ clouds
def load_clouds(
    path: str | os.PathLike[str],
    *,
    mmap: bool = True,
    min_steps: int = 1,
) -> np.ndarray:
    """Open a liquid-water-path array like the figshare ``cloud_dataset.npy``.

    Parameters
    ----------
    path
        An ``.npy`` file holding ``(n_steps, ny, nx)`` floats in kg m-2.
    mmap
        Memory-map the file (the full data set is ~180 MB) instead of reading it.
    min_steps
        Fewest time steps accepted.

    Returns
    -------
    numpy.ndarray
        (n_steps, ny, nx) LWP in kg m-2 (a read-only memmap when ``mmap``).

    Raises
    ------
    DataNotFoundError, CorruptFileError, CloudDataError
        Missing, unreadable/truncated, or wrong rank, dtype or units (values
        that look like g m-2 instead of kg m-2).
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"cloud file {path} does not exist")
    try:
        lwp = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except PermissionError as err:
        raise FileAccessError(f"cannot read {path}: permission denied") from err
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise CorruptFileError(
            f"cannot read {path} as a .npy array ({err}): it is truncated, damaged or not a "
            ".npy file. If unisst downloaded or generated it, delete it and run that command "
            "again."
        ) from err
    if not isinstance(lwp, np.ndarray):  # an .npz archive: several arrays, not one
        lwp.close()
        raise CloudDataError(
            f"{path} is an .npz archive, not a .npy array: save the (time, y, x) liquid water "
            "path with numpy.save"
        )
    validate_clouds(lwp, source=str(path), min_steps=min_steps)
    return lwp


def validate_clouds(lwp: np.ndarray, *, source: str = "cloud array", min_steps: int = 1) -> None:
    """Check rank, dtype and units of an LWP array; raise :class:`CloudDataError` if wrong."""
    if lwp.ndim != 3:
        raise CloudDataError(
            f"{source}: liquid water path must be 3-D (time, y, x), got shape {lwp.shape}"
        )
    if not np.issubdtype(lwp.dtype, np.floating):
        raise CloudDataError(
            f"{source}: liquid water path must be floating point (kg m-2), got {lwp.dtype}"
        )
    if lwp.shape[0] < min_steps:
        raise CloudDataError(
            f"{source}: {lwp.shape[0]} time steps, fewer than the {min_steps} needed"
        )
    idx = np.unique(np.linspace(0, lwp.shape[0] - 1, num=min(lwp.shape[0], 64)).astype(int))
    sample = np.asarray(lwp[idx], dtype=np.float64)
    if not np.isfinite(sample).any():
        raise CloudDataError(f"{source}: liquid water path holds no finite value")
    p99 = float(np.nanpercentile(sample, 99))
    if p99 > 10.0:
        raise CloudDataError(
            f"{source}: liquid water path values look like g m-2 (99th percentile "
            f"{p99:.1f}), but unisst expects kg m-2 as in the figshare data set: "
            "divide the array by 1000 and save it again."
        )
    if float(np.nanmin(sample)) < -0.05:
        raise CloudDataError(
            f"{source}: liquid water path has negative values down to "
            f"{float(np.nanmin(sample)):.3f} kg m-2; this is not an LWP field."
        )
