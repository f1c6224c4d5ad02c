"""Splitting a day's dividend pools among their sharers: pure arithmetic, no database, so every rule of
DISTRIBUTION.md "Dividend pools" (equal shares, floor, caps, the remainder staying with the merchant) can be
checked on its own and by the vectors file.

A pool is split equally among its sharers. A distributor with a cap has a room (what the caps still allow
for the day, from the payouts of the month, quarter and year so far); one with no room takes no share, one
whose equal share would pass its room takes its room, and what it could not take is shared by the others
(water-filling, repeated until nobody else hits a cap). Shares are floored at the end; what is left stays
with the merchant. Pools are split in the order given (dynamic mode: level 1, 2, 3), each with the room the
earlier ones left.
"""

from dataclasses import dataclass, field


@dataclass
class PoolSplit:
    """One pool's outcome: who got what, what stayed with the merchant, who a cap held back or cut."""

    key: str
    pool_fen: int
    sharers: int
    shares: dict[int, int] = field(default_factory=dict)
    capped: list[int] = field(default_factory=list)

    @property
    def paid_fen(self) -> int:
        return sum(self.shares.values())

    @property
    def remainder_fen(self) -> int:
        return self.pool_fen - self.paid_fen


def split_pool(key: str, pool_fen: int, sharers: list[int], room: dict[int, int | None]) -> PoolSplit:
    """Split one pool among `sharers` (distributor ids, each once), each limited by its `room` (None or
    absent: no cap). `room` is not changed here; `split_pools` shrinks it."""
    ids = sorted(set(sharers))
    result = PoolSplit(key=key, pool_fen=max(pool_fen, 0), sharers=len(ids))
    if result.pool_fen == 0 or not ids:
        return result
    open_ = []
    for distributor_id in ids:
        limit = room.get(distributor_id)
        if limit is not None and limit <= 0:
            result.capped.append(distributor_id)  # no room left in some period: no share at all
        else:
            open_.append(distributor_id)
    # Water-filling on exact integers: the equal share of what is left is left / count; a sharer whose room
    # is at most that takes its room and leaves the pool, and the rest is shared again, until stable.
    left = result.pool_fen
    while open_:
        count = len(open_)
        limited = [d for d in open_ if room.get(d) is not None and room[d] * count <= left]
        if not limited:
            break
        # A cap cut the share when the room was below the equal share (equal to it: nothing was cut).
        result.capped.extend(d for d in limited if room[d] * count < left)
        for distributor_id in limited:
            result.shares[distributor_id] = room[distributor_id]
            left -= room[distributor_id]
        taken = set(limited)
        open_ = [d for d in open_ if d not in taken]
    if open_:
        share = left // len(open_)  # floor: the remainder stays with the merchant
        for distributor_id in open_:
            result.shares[distributor_id] = share
    result.shares = {d: amount for d, amount in result.shares.items() if amount > 0}
    result.capped.sort()
    return result


def split_pools(pools: list[tuple[str, int, list[int]]], room: dict[int, int | None]) -> list[PoolSplit]:
    """Split each (key, pool_fen, sharers) in order; each share shrinks the sharer's room for the next
    pools (`room` is updated in place: what the caps still allow once the day is paid)."""
    results = []
    for key, pool_fen, sharers in pools:
        split = split_pool(key, pool_fen, sharers, room)
        for distributor_id, amount in split.shares.items():
            if room.get(distributor_id) is not None:
                room[distributor_id] -= amount
        results.append(split)
    return results
