"""config.toml without Textual: the key-name table, the [encryption] table, the one reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.keys import Keys

from tuimatrix.config import (
    TEXTUAL_KEY_NAMES,
    encrypt_new_rooms,
    load_config,
    read_config_file,
    valid_key,
)
from tuimatrix.paths import get_paths


def write_config(text: str | bytes) -> Path:
    path = get_paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def test_key_name_table_matches_the_installed_textual() -> None:
    """The table config.py keeps so that it needs no Textual is Textual's own: a new Textual
    that adds or renames a key fails here, not in a user's config."""
    assert {k.value for k in Keys if "+" not in k.value} == TEXTUAL_KEY_NAMES


@pytest.mark.parametrize("name", sorted(TEXTUAL_KEY_NAMES))
def test_every_textual_key_name_is_a_key_alone_and_with_modifiers(name: str) -> None:
    assert valid_key(name) and valid_key(f"ctrl+{name}") and valid_key(f"ctrl+shift+{name}")


@pytest.mark.parametrize("key", ["", "ctrl+", "+", "hyperspace+x", "ctrl+nope", "pgup", "f25"])
def test_what_is_not_a_key(key: str) -> None:
    assert not valid_key(key)


def test_encryption_new_rooms_is_read_into_the_config() -> None:
    assert load_config(write_config("")).encryption.new_rooms is True
    assert (
        load_config(write_config("[encryption]\nnew-rooms = false\n")).encryption.new_rooms is False
    )
    config = load_config(write_config("[encryption]\nnew-rooms = 'yes'\n"))
    assert config.encryption.new_rooms is True  # a bad entry means the default
    assert config.errors == [
        f"{get_paths().config_file}:1: [encryption] new-rooms must be true or false"
    ]


def test_encrypt_new_rooms_reads_the_file_afresh() -> None:
    paths = get_paths()
    assert encrypt_new_rooms(paths) is True  # no file at all
    write_config("[encryption]\nnew-rooms = false\n")
    assert encrypt_new_rooms(paths) is False
    write_config("[encryption\n")  # not TOML: the defaults
    assert encrypt_new_rooms(paths) is True


def test_read_config_file_reports_one_line_and_means_the_defaults() -> None:
    path = get_paths().config_file
    assert read_config_file(path) == ({}, "", "")
    write_config("[room]\nformat = 'irc'\n")
    assert read_config_file(path) == (
        {"room": {"format": "irc"}},
        "[room]\nformat = 'irc'\n",
        "",
    )
    write_config(b"[room]\n\xff\n")
    assert read_config_file(path) == (
        {},
        "",
        f"{path}:2: not UTF-8 text (the whole file is ignored)",
    )
    data, _text, problem = read_config_file(write_config("[room\n"))
    assert data == {} and problem.startswith(f"{path}: ") and "the whole file is ignored" in problem
