"""The simulator engine, shared by every scenario (see :mod:`forensics.simulate`
for the layout and :mod:`.scenario` for the protocol a scenario provides)."""
