// PayRailWire: pure codecs (no I/O) for every 402 dialect PayRail speaks.
