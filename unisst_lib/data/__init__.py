"""Data: SST files and LWP clouds on disk -> xarray/NumPy, cloud masks, normalised sequences.

Also the embedded twin (``twin/``) and descriptive statistics. May import: ``core``.
"""
