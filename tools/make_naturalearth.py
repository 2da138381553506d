"""Build the Natural Earth 1:110m shapefiles that unisst ships for offline cartopy maps.

cartopy downloads Natural Earth on first use, and its downloader has no
timeout: offline, a map with coastlines hangs. unisst ships the few 110m files
it draws, in cartopy's own layout, and points ``cartopy.config
["pre_existing_data_dir"]`` at them (``unisst_lib.views.maps.configure_offline``).

Source: the Natural Earth 110m admin-0 countries (public domain) as carried by
the PyPI wheel ``geopandas==0.14.4`` (``geopandas/datasets/naturalearth_lowres``).
From it this script writes, under ``unisst_lib/naturalearth/shapefiles/natural_earth/``:

- ``cultural/ne_110m_admin_0_countries``: the countries, geometry unchanged,
  attributes POP_EST, CONTINENT, NAME, ISO_A3, GDP_MD_EST re-encoded as UTF-8;
- ``physical/ne_110m_land``: the countries dissolved into land polygons;
- ``physical/ne_110m_coastline``: the land polygons' boundaries as lines, without
  the artificial edges along the antimeridian and the South Pole;
- ``cultural/ne_110m_admin_0_boundary_lines_land``: the borders shared by two countries.

Run (network to PyPI only, once)::

    pip download --no-deps geopandas==0.14.4 -d /tmp/whl
    .venv/bin/python tools/make_naturalearth.py /tmp/whl/geopandas-0.14.4-py3-none-any.whl

The output is deterministic (the .dbf header date is fixed), so a rerun gives
identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import zipfile
from pathlib import Path

import shapefile
import shapely
from shapely.geometry import LineString, MultiLineString, Polygon, shape
from shapely.geometry.polygon import orient

WHEEL_SHA256 = "3bb6473cb59d51e1a7fe2dbc24a1a063fb0ebdeddf3ce08ddbf8c7ddc99689aa"
MEMBER = "geopandas/datasets/naturalearth_lowres/naturalearth_lowres"
OUT = Path(__file__).resolve().parent.parent / "unisst_lib/naturalearth/shapefiles/natural_earth"
DBF_DATE = (124, 4, 28)  # 2024-04-28, the wheel's file date: fixed for reproducible output
EPS = 1e-9


def read_countries(wheel: Path) -> tuple[list, list[tuple], str]:
    """Shapely geometries, attribute rows and .prj text of the wheel's countries."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {digest}, expected {WHEEL_SHA256} (geopandas 0.14.4)")
    with zipfile.ZipFile(wheel) as zf:
        parts = {ext: zf.read(f"{MEMBER}.{ext}") for ext in ("shp", "shx", "dbf", "prj", "cpg")}
    encoding = parts["cpg"].decode().strip()  # ISO-8859-1
    reader = shapefile.Reader(
        shp=io.BytesIO(parts["shp"]),
        shx=io.BytesIO(parts["shx"]),
        dbf=io.BytesIO(parts["dbf"]),
        encoding=encoding,
    )
    geoms = [shape(s.__geo_interface__) for s in reader.shapes()]
    rows = [tuple(r) for r in reader.records()]
    bad = [i for i, g in enumerate(geoms) if not g.is_valid]
    if bad:
        raise SystemExit(f"invalid country geometries at records {bad}")
    return geoms, rows, parts["prj"].decode()


def polygon_parts(geom) -> list[list[list[tuple[float, float]]]]:
    """Rings of each polygon, exterior clockwise and holes counter-clockwise (shapefile rule)."""
    polys = list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]
    parts = []
    for p in polys:
        p = orient(p, sign=-1.0)
        parts.append([list(p.exterior.coords)] + [list(r.coords) for r in p.interiors])
    return parts


def artificial(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """True for an edge along the antimeridian or the South Pole (a cut, not a coast)."""
    on_meridian = abs(abs(a[0]) - 180) < EPS and abs(abs(b[0]) - 180) < EPS
    on_pole = a[1] < -90 + EPS and b[1] < -90 + EPS
    return on_meridian or on_pole


def coast_lines(land: list[Polygon]) -> list[LineString]:
    """The rings of the land polygons, cut where an edge is artificial."""
    lines = []
    for poly in land:
        for ring in [poly.exterior, *poly.interiors]:
            pts = list(ring.coords)
            # start the walk at an artificial edge if there is one so no piece wraps around
            cut = next((i for i in range(len(pts) - 1) if artificial(pts[i], pts[i + 1])), None)
            if cut is None:
                lines.append(LineString(pts))
                continue
            pts = pts[cut + 1 : -1] + pts[: cut + 1]
            current = [pts[0]]
            for a, b in itertools.pairwise(pts):
                if artificial(a, b):
                    if len(current) > 1:
                        lines.append(LineString(current))
                    current = [b]
                else:
                    current.append(b)
            if len(current) > 1:
                lines.append(LineString(current))
    return lines


def border_lines(countries: list) -> list[LineString]:
    """Boundaries shared by two countries, merged into lines."""
    tree = shapely.STRtree(countries)
    pieces = []
    for i, j in zip(*tree.query(countries, predicate="intersects"), strict=True):
        if i >= j:
            continue
        shared = countries[i].boundary.intersection(countries[j].boundary)
        for g in getattr(shared, "geoms", [shared]):
            if g.geom_type in ("LineString", "MultiLineString") and g.length > 0:
                pieces.append(g)
    merged = shapely.line_merge(shapely.union_all(pieces))
    lines = list(merged.geoms) if isinstance(merged, MultiLineString) else [merged]
    lines = [ln for ln in lines if not all(artificial(a, b) for a, b in _edges(ln))]
    return sorted(lines, key=lambda ln: (-ln.length, ln.coords[0]))


def _edges(line: LineString):
    return itertools.pairwise(list(line.coords))


def write(path: Path, shape_type: int, fields, records, geoms, prj: str) -> None:
    """One shapefile (.shp .shx .dbf .prj .cpg) with a fixed .dbf date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with shapefile.Writer(str(path), shapeType=shape_type, encoding="utf-8") as w:
        for f in fields:
            w.field(*f)
        for rec, geom in zip(records, geoms, strict=True):
            if shape_type == shapefile.POLYGON:
                w.poly([ring for part in polygon_parts(geom) for ring in part])
            else:
                w.line([list(geom.coords)])
            w.record(*rec)
    dbf = path.with_suffix(".dbf")
    data = bytearray(dbf.read_bytes())
    data[1:4] = bytes(DBF_DATE)
    dbf.write_bytes(bytes(data))
    path.with_suffix(".prj").write_text(prj)
    path.with_suffix(".cpg").write_text("UTF-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheel", type=Path, help="geopandas-0.14.4-py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default {OUT}")
    args = parser.parse_args(argv)

    countries, rows, prj = read_countries(args.wheel)

    country_fields = [
        ("POP_EST", "N", 24, 15),
        ("CONTINENT", "C", 80, 0),
        ("NAME", "C", 80, 0),
        ("ISO_A3", "C", 80, 0),
        ("GDP_MD_EST", "N", 18, 0),
    ]
    write(
        args.out / "cultural/ne_110m_admin_0_countries.shp",
        shapefile.POLYGON,
        country_fields,
        rows,
        countries,
        prj,
    )

    land = list(shapely.union_all(countries).geoms)
    land.sort(key=lambda p: (-round(p.area, 6), p.exterior.coords[0]))
    feature_fields = [("featurecla", "C", 32, 0), ("scalerank", "N", 4, 0)]
    write(
        args.out / "physical/ne_110m_land.shp",
        shapefile.POLYGON,
        feature_fields,
        [("Land", 0)] * len(land),
        land,
        prj,
    )

    coast = coast_lines(land)
    write(
        args.out / "physical/ne_110m_coastline.shp",
        shapefile.POLYLINE,
        feature_fields,
        [("Coastline", 0)] * len(coast),
        coast,
        prj,
    )

    borders = border_lines(countries)
    write(
        args.out / "cultural/ne_110m_admin_0_boundary_lines_land.shp",
        shapefile.POLYLINE,
        feature_fields,
        [("Border", 0)] * len(borders),
        borders,
        prj,
    )

    total = 0
    for f in sorted(args.out.rglob("ne_110m_*")):
        total += f.stat().st_size
        print(f"{f.relative_to(args.out)}  {f.stat().st_size:>8} bytes")
    print(
        f"{len(countries)} countries, {len(land)} land polygons, {len(coast)} coastlines, "
        f"{len(borders)} borders; {total} bytes in all"
    )


if __name__ == "__main__":
    main()
