"""The regular time axis of an SST archive: its cadence and the dates it lacks.

:func:`regular_time_axis` takes the frame times of an archive and returns the
regular axis they sit on — a fixed step (hourly, 3-hourly, daily, …) or a
calendar one (monthly, seasonal, yearly: months have different lengths, yet
monthly means *are* regular) — and the dates absent from it. Steps that fit no
cadence, mixed cadences, repeated dates and a single frame are refused with a
:class:`~unisst_lib.core.errors.CadenceError` that lists the offending steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from unisst_lib.core.errors import CadenceError

HOUR = 3_600_000_000_000  # ns
DAY = 24 * HOUR
#: A step this long or longer is taken as calendar months (or years).
MONTHLY_FROM = 27 * DAY
#: How far from the median position in their month the frames of a monthly axis may sit.
MONTH_POSITION_TOLERANCE = 0.1
#: Time stamps are whole seconds (as in GHRSST/CMEMS files): finer steps are no cadence.
_SECOND = 1_000_000_000
#: At most this many dates on the regular axis per frame present (the rest absent).
MAX_EXPANSION = 20
_SHOWN = 10


@dataclass(frozen=True)
class TimeAxis:
    """A regular time axis: ``cadence`` (ISO 8601), every ``times``, the ``absent`` ones."""

    cadence: str
    times: pd.DatetimeIndex
    absent: pd.DatetimeIndex

    def label(self, time) -> str:
        """``time`` at the axis' precision: ``2018``, ``2018-03``, ``2018-03-02``, ``…T06:00``."""
        fmt = {"Y": "%Y", "M": "%Y-%m", "D": "%Y-%m-%d"}.get(self.cadence[-1], "%Y-%m-%dT%H:%M")
        return pd.Timestamp(time).strftime(fmt)


def regular_time_axis(times, *, files: pd.Series | None = None) -> TimeAxis:
    """The regular axis ``times`` sit on, with the absent dates.

    Parameters
    ----------
    times
        The frames' times (datetime64), in any order.
    files
        The file of each time (a Series indexed by time), named in error messages.

    Examples
    --------
    >>> ax = regular_time_axis(pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-05"]))
    >>> ax.cadence, len(ax.times), [ax.label(t) for t in ax.absent]
    ('P1D', 5, ['2020-01-03', '2020-01-04'])
    >>> yearly = pd.to_datetime([f"{y}-01-15" for y in (1963, 1964, 1966)])
    >>> ax = regular_time_axis(yearly)
    >>> ax.cadence, [ax.label(t) for t in ax.absent]
    ('P1Y', ['1965'])
    """
    t = pd.DatetimeIndex(times).as_unit("ns").sort_values()  # asi8 in ns below
    if len(t) < 2:
        where = _where(t[0], files) if len(t) else ""
        raise CadenceError(
            f"the archive holds a single frame ({_stamp(t[0]) if len(t) else 'none'}{where}): "
            "unisst fills sequences of frames in time. Give the files of a period "
            "(e.g. 'sst/2018*.nc')."
        )
    _check_duplicates(t, files)
    steps = np.diff(t.asi8)
    if _mode(steps) >= MONTHLY_FROM:
        return _calendar_axis(t, files)
    return _fixed_axis(t, steps, files)


# ------------------------------------------------------------------ fixed steps
def _fixed_axis(t: pd.DatetimeIndex, steps: np.ndarray, files) -> TimeAxis:
    """The commonest step, or a finer one of the same unit that all steps are multiples of."""
    step = _mode(steps)
    bad = (steps % step != 0) | (steps % _SECOND != 0)
    finest = int(steps.min())
    if (
        bad.any()
        and (steps % finest == 0).all()
        and finest % _SECOND == 0
        and _unit(finest) == _unit(step)
    ):
        step, bad = finest, np.zeros_like(bad)  # e.g. daily with every other day absent
    if bad.any() or step % _SECOND != 0:
        raise _step_error(t, bad | (steps % _SECOND != 0), _iso(step), files)
    if (t[-1] - t[0]).value // step + 1 > MAX_EXPANSION * len(t):
        raise CadenceError(
            f"frames {_iso(step)} apart would leave more than {MAX_EXPANSION - 1} of every "
            f"{MAX_EXPANSION} dates of {_stamp(t[0])} .. {_stamp(t[-1])} absent: this is no "
            "regular archive. Give the files of one continuous period."
        )
    axis = pd.date_range(t[0], t[-1], freq=pd.Timedelta(step, "ns"))
    return TimeAxis(_iso(step), axis, axis.difference(t))


def _unit(ns: int) -> str:
    for name, size in (("day", DAY), ("hour", HOUR), ("minute", 60 * 10**9), ("second", 10**9)):
        if ns % size == 0:
            return name
    return "sub-second"


def _iso(ns: int) -> str:
    """A fixed step as an ISO 8601 duration: ``P1D``, ``PT3H``, ``PT10M``, ``PT30S``."""
    if ns % DAY == 0:
        return f"P{ns // DAY}D"
    if ns % HOUR == 0:
        return f"PT{ns // HOUR}H"
    if ns % (60 * 10**9) == 0:
        return f"PT{ns // (60 * 10**9)}M"
    return f"PT{ns / 10**9:g}S"


# ------------------------------------------------------------------ calendar axes
def _calendar_axis(t: pd.DatetimeIndex, files) -> TimeAxis:
    """A step of n calendar months (n = 12: yearly), frames at one position in their month."""
    month = np.asarray(t.year * 12 + t.month - 1, dtype=np.int64)
    dm = np.diff(month)
    n = max(_mode(dm), 1)
    cadence = f"P{n // 12}Y" if n % 12 == 0 else f"P{n}M"
    bad = (dm <= 0) | (dm % n != 0)
    if bad.any():
        raise _step_error(t, bad, cadence, files)
    start = t.to_period("M").start_time.as_unit("ns")
    offset = t.asi8 - start.asi8
    fraction = offset / (np.asarray(t.days_in_month, dtype=np.int64) * DAY)
    odd = np.abs(fraction - np.median(fraction)) > MONTH_POSITION_TOLERANCE
    if odd.any():
        shown = ", ".join(f"{_stamp(x)}{_where(x, files)}" for x in t[odd][:_SHOWN])
        raise CadenceError(
            f"time steps that fit no cadence: the frames are {cadence} apart but do not sit at "
            f"the same point of their month (most at {_stamp(t[~odd][0])}); these differ: "
            f"{shown}. Give means stamped consistently (e.g. all mid-month)."
        )
    missing = np.setdiff1d(np.arange(month[0], month[-1] + 1, n), month)
    absent = pd.DatetimeIndex([_calendar_stamp(m, offset, fraction, t) for m in missing])
    return TimeAxis(cadence, t.union(absent), absent)


def _calendar_stamp(month: int, offset, fraction, t: pd.DatetimeIndex) -> pd.Timestamp:
    """The time of an absent month: the present frames' offset in their month."""
    start = pd.Timestamp(year=int(month // 12), month=int(month % 12 + 1), day=1)
    length = start.days_in_month * DAY
    if (offset == offset[0]).all() and offset[0] < length:
        return start + pd.Timedelta(int(offset[0]), "ns")
    stamp = start + pd.Timedelta(int(np.median(fraction) * length), "ns")
    midnight = (t.asi8 % DAY == 0).all()
    return stamp.round("D" if midnight else "h")


# ----------------------------------------------------------------------- errors
def _check_duplicates(t: pd.DatetimeIndex, files) -> None:
    dup = t[t.duplicated(keep="first")].unique()
    if len(dup):
        shown = "; ".join(
            f"{_stamp(x)} in {', '.join(_files_at(x, files)) or 'one file, twice'}"
            for x in dup[:_SHOWN]
        )
        raise CadenceError(
            f"{len(dup)} date(s) appear more than once: {shown}. An archive holds one frame per "
            "date: keep one product (one sensor, one processing level) per archive."
        )


def _step_error(t: pd.DatetimeIndex, bad: np.ndarray, cadence: str, files) -> CadenceError:
    """Mixed cadences (a bad step is itself an hour or a day) or steps that fit no cadence."""
    idx = np.flatnonzero(bad)
    pairs = [(t[i], t[i + 1]) for i in idx]
    shown = "; ".join(
        f"{_stamp(a)}{_where(a, files)} → {_stamp(b)}{_where(b, files)} ({_duration(b - a)})"
        for a, b in pairs[:_SHOWN]
    ) + (" …" if len(pairs) > _SHOWN else "")
    n_steps = len(t) - 1
    standard = {pd.Timedelta(hours=1), pd.Timedelta(days=1)}
    if any(b - a in standard for a, b in pairs):
        return CadenceError(
            f"the archive mixes cadences: most steps are {cadence}, but {len(idx)} of {n_steps} "
            f"are not: {shown}. Keep one cadence per archive (here the {cadence} files) and "
            "open the others separately."
        )
    return CadenceError(
        f"irregular time steps that fit no cadence: most steps are {cadence}, but {len(idx)} of "
        f"{n_steps} are not whole multiples of it (in whole seconds): {shown}. unisst puts "
        "frames on a regular hourly, daily, monthly or yearly axis (absent dates are fine): "
        "remove or fix those frames or files."
    )


def _mode(values: np.ndarray) -> int:
    """The commonest value (the smallest one on a tie)."""
    uniq, counts = np.unique(values, return_counts=True)
    return int(uniq[np.argmax(counts)])


def _stamp(time) -> str:
    return pd.Timestamp(time).strftime("%Y-%m-%d %H:%M")


def _duration(delta: pd.Timedelta) -> str:
    hours = delta / pd.Timedelta(hours=1)
    return f"{hours / 24:g} day{'s' * (hours != 24)}" if hours >= 24 else f"{hours:g} h"


def _files_at(time, files) -> list[str]:
    if files is None or time not in files.index:
        return []
    return [str(f) for f in np.atleast_1d(files.loc[time])]


def _where(time, files) -> str:
    names = _files_at(time, files)
    return f" ({', '.join(names)})" if names else ""
