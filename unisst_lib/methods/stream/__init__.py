"""The streamed fill: archives larger than memory, on one machine or a dask cluster.

:func:`unisst_lib.methods.stream.run.fill_streamed` (``unisst fill … --workers N``,
``--scheduler ADDRESS``, ``--chunk``, or an output ending in ``.zarr``) cuts the fill
into independent tasks, one per output chunk (space block × run of frames), each
reading only the frames and pixels its time windows and tiles need, and writes each
chunk to a Zarr store as soon as it is done. Memory depends on the chunk size and
the number of workers, not on the domain or the record length.

* :mod:`.plan`: the chunks and which time windows / tiles each needs;
* :mod:`.source`: the input, opened lazily, read region by region;
* :mod:`.block`: one chunk filled, equal to the in-memory fill there (float round-off);
* :mod:`.store`: the Zarr work store, chunk markers for restarts, the final outputs;
* :mod:`.execute`: running the tasks (synchronous, a local cluster or a scheduler);
* :mod:`.run`: the whole fill;
* :mod:`.sizing`: whether an input is too big for the in-memory fill (then the CLI streams).
"""
