"""Disjoint segments of a cloud record for the train, validation and test splits.

One cloud record serves every split of a split set; cutting it into segments in
time order means no test mask is ever a training or validation mask (the
windows of :class:`unisst_lib.data.masks.CloudSampler` stay inside their split's
segment).
"""

from __future__ import annotations

from unisst_lib.core.errors import CloudDataError

MIN_STARTS = 10
"""Fewest distinct window starts a split's segment of the cloud record holds."""


def cloud_segments(
    n_steps: int, *, span: int, fractions: dict[str, float]
) -> dict[str, tuple[int, int]]:
    """Disjoint segments ``[lo, hi)`` of a cloud record for train, val and test, in that order.

    Validation and test take ``fractions`` of the steps each, but never less than
    ``span + 9`` (ten distinct window starts, so that a second window can be drawn for
    hiding pixels); training takes the rest. No cloud step serves two splits.

    >>> cloud_segments(10800, span=231, fractions={"train": 0.7, "val": 0.15, "test": 0.15})
    {'train': (0, 7560), 'val': (7560, 9180), 'test': (9180, 10800)}
    >>> cloud_segments(720, span=231, fractions={"train": 0.7, "val": 0.15, "test": 0.15})
    {'train': (0, 240), 'val': (240, 480), 'test': (480, 720)}
    """
    least = int(span) + MIN_STARTS - 1
    n_val = max(least, round(fractions["val"] * n_steps))
    n_test = max(least, round(fractions["test"] * n_steps))
    n_train = int(n_steps) - n_val - n_test
    if n_train < least:
        raise CloudDataError(
            f"the cloud record has {n_steps} steps: too short for three disjoint segments "
            f"(train, val, test) of at least {least} steps each ({MIN_STARTS} windows of "
            f"{span} steps). Use a longer cloud data set."
        )
    return {
        "train": (0, n_train),
        "val": (n_train, n_train + n_val),
        "test": (n_train + n_val, int(n_steps)),
    }
