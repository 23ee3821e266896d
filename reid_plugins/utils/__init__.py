"""Small helpers shared by every part of the package (one home for each idea)."""
