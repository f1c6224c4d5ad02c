"""Moments of marketing other areas react to, inside the same transaction (notifications tells the
members): `group_formed` when a 拼团 fills its last seat, `group_failed` when its time is up before it
filled (sender: the group's id)."""

from blinker import Namespace

_signals = Namespace()

group_formed = _signals.signal("group-formed")
group_failed = _signals.signal("group-failed")
