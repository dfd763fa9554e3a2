// Tests for BBSModels.
