// ProtoWire: the generic protobuf binary runtime (see docs/ARCHITECTURE.md).
