"""The Matrix layer of tuimatrix. Nothing in this package may import textual."""
