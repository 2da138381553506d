"""Exceptions raised by unisst for bad input.

Every message says what was wrong and what to do about it. Catch
:class:`UnisstError` to handle them all (the ``unisst`` command turns them into
a one-line ``error: ...`` and exit code 2).
"""

from __future__ import annotations


class UnisstError(Exception):
    """Base class of every error unisst raises on purpose."""


class ManifestError(UnisstError, ValueError):
    """data_manifest.yaml (or a config) is missing, malformed or inconsistent."""


class DataNotFoundError(UnisstError, FileNotFoundError):
    """A data set the manifest names is not on disk."""


class DataFormatError(UnisstError, ValueError):
    """A file opened but does not hold what unisst needs (variable, axes, units)."""


class SSTVariableNotFoundError(DataFormatError):
    """No sea-surface-temperature variable in a data set."""


class GridError(DataFormatError):
    """Missing or unusable latitude/longitude/time axes, or a grid too small."""


class CloudDataError(DataFormatError):
    """A cloud (liquid water path) array of the wrong rank, shape, dtype or units."""


class ThresholdError(UnisstError, ValueError):
    """A liquid-water-path threshold outside the physical range."""


class CorruptFileError(UnisstError, OSError):
    """A file exists but cannot be read: truncated, corrupt or not the claimed format."""


class FileAccessError(UnisstError, PermissionError):
    """A file exists but this user may not read (or write) it."""


class MissingDependencyError(UnisstError, ImportError):
    """An optional package that this operation needs is not installed."""


class ChecksumError(CorruptFileError):
    """A file's checksum differs from the one the manifest or the server gives."""


class DownloadError(UnisstError, OSError):
    """A download failed; the message says why and what to do."""


class CredentialsError(DownloadError):
    """Copernicus Marine credentials are missing or were refused."""


class NetworkError(DownloadError):
    """A server could not be reached, or did not answer in time."""


class RemoteDataError(DownloadError):
    """The server answered, but no longer holds what the manifest asks for."""


class ManualDownloadRequired(DownloadError):
    """The server will not serve a script (bot challenge, 403): download by hand."""


class MixedGridError(GridError):
    """Files of one archive are not on the same latitude/longitude grid."""


class CadenceError(DataFormatError):
    """Time steps that fit no regular cadence, mixed cadences, repeated dates or one frame."""


class QualityError(DataFormatError):
    """A quality filter that cannot apply (no ``quality_level``) or leaves nothing."""


class LandMaskError(DataFormatError):
    """A land mask that cannot be read or used, or a domain that is all land."""


class UnisstWarning(UserWarning):
    """Base class of the warnings unisst gives about usable but doubtful input."""


class ArchiveWarning(UnisstWarning):
    """An SST archive that opens but may fill poorly (grid, domain size, land share)."""
