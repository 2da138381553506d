"""Views: maps (cartopy), figures, animations and the interactive mask explorer.

May import: ``core``, ``data``, ``models``, ``evaluation``.
"""
