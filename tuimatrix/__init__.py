"""tuimatrix: a terminal client for the Matrix chat network."""

__version__ = "0.1.0"
