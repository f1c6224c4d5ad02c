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
    # Water-filling on exact integers: the equal share of what is left is left / count; a sharer whose room
    # is at most that takes its room and leaves the pool, and the rest is shared again, until stable.
    open_ = list(ids)
    left = result.pool_fen
    while open_:
        count = len(open_)
        limited = [d for d in open_ if room.get(d) is not None and room[d] * count <= left]
        if not limited:
            break
        for distributor_id in limited:
            result.shares[distributor_id] = max(room[distributor_id], 0)
            left -= result.shares[distributor_id]
        taken = set(limited)
        open_ = [d for d in open_ if d not in taken]
    took_room = [d for d in ids if d not in open_]
    # Who a cap cut is only known once the level is: a sharer is capped when its room is below what the
    # others finally got (the floored share of those still open), or — nobody open — below the largest
    # room; when the pool was not used up, everybody was cut.
    if open_:
        share = left // len(open_)  # floor: the remainder stays with the merchant
        for distributor_id in open_:
            result.shares[distributor_id] = share
        result.capped = [d for d in took_room if result.shares[d] < share]
    elif left > 0:
        result.capped = list(ids)
    else:
        top = max(result.shares[d] for d in ids)
        result.capped = [d for d in ids if result.shares[d] < top]
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
