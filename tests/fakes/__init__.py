"""Fake payment gateways: real HTTP servers on 127.0.0.1 holding test keys made here, verifying our
signatures and answering (and notifying) with signed, encrypted messages — the bytes the real ones send."""
