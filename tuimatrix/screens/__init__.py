"""Textual screens: login, room list, room, dialogs."""
