// Tests for ProtoWire.
