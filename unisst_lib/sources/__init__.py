"""Sources: where data come from (Copernicus Marine, figshare), their checks and the inventory.

May import: ``core``, ``data``.
"""
