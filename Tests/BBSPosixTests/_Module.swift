// Tests for BBSPosix.
