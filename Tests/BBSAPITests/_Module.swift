// Tests for BBSAPI.
