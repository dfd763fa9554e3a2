// bbs-server: composition root (see docs/ARCHITECTURE.md).
