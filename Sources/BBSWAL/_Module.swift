// BBSWAL: the write-ahead log (see docs/ARCHITECTURE.md).
