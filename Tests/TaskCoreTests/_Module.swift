// Tests for TaskCore.
