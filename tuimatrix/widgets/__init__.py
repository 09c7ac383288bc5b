"""Reusable widgets: room tree, timeline view, composer, pickers."""
