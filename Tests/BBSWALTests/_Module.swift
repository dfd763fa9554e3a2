// Tests for BBSWAL.
