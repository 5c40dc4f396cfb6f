"""Which of the ready keys a `KeyPool` leases: tiers, rotation and rotation tolerance.

A plain function of the pool's counts, no I/O. The candidates are the keys that are neither
cooling nor at their cap (`actors.keypool` decides that; a key's cap is `max_concurrent` times
its tier's multiplier).

Tiers first. Each key has a tier (`paid` 1, `free` 2, any integer): the key is chosen from the
lowest tier among the candidates, so free keys serve only while every paid one is cooling or
full. Within the tier:

- `sequential` takes the first, so one key is used until it fails (provider-side caches stay
  warm, daily quotas are spent one key at a time);
- `balanced` with `tolerance` 0 takes the least loaded (fewest leases out), ties in turn
  starting after the key chosen last: deterministic, baton's default;
- `balanced` with `tolerance` t > 0 draws at random, each key weighted
  `(most_uses - its_uses) + t + 1`, where uses count the leases a key has had: the less used
  the likelier, and the larger t the flatter (LLM-API-Key-Proxy's ROTATION_TOLERANCE, whose
  default there is 3). The draw uses the pool's `rng`, which a test seeds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import attrs


@attrs.define
class KeyChooser:
    rotation: str = "balanced"
    tolerance: float = 0.0
    rng: random.Random = attrs.field(factory=random.Random, repr=False)
    cursor: int = 0  # balanced, tolerance 0: where the search for a tie starts next time

    def choose(
        self,
        candidates: Sequence[int],
        tiers: Sequence[int],
        in_flight: Sequence[int],
        uses: Sequence[int],
    ) -> int:
        """One of `candidates` (indices into `tiers`, `in_flight` and `uses`; not empty)."""
        best = min(tiers[index] for index in candidates)
        tier = [index for index in candidates if tiers[index] == best]
        if self.rotation == "sequential":
            return tier[0]
        if self.tolerance > 0 and len(tier) > 1:
            return self.rng.choices(tier, weights(tier, uses, self.tolerance))[0]
        count = len(tiers)
        least = min(in_flight[index] for index in tier)
        tied = [index for index in tier if in_flight[index] == least]
        chosen = min(tied, key=lambda index: (index - self.cursor) % count)
        self.cursor = (chosen + 1) % count
        return chosen


def weights(candidates: Sequence[int], uses: Sequence[int], tolerance: float) -> list[float]:
    """Each candidate's weight in the draw: `(most_uses - its_uses) + tolerance + 1`."""
    most = max(uses[index] for index in candidates)
    return [most - uses[index] + tolerance + 1 for index in candidates]
