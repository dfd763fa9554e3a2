// Module BBSAPI: see docs/ARCHITECTURE.md.
