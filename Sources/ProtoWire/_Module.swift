// Module ProtoWire: see docs/ARCHITECTURE.md.
