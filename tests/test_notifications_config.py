"""``[notifications]`` in config.toml: each setting read, each bad one a line naming it."""

from __future__ import annotations

from test_config import write_config

from tuimatrix.config import NotificationsConfig, load_config
from tuimatrix.core.alert_policy import CHANNELS


def test_without_the_table_mentions_use_every_channel_and_other_messages_the_title() -> None:
    settings = load_config(write_config("")).notifications
    assert settings == NotificationsConfig()
    assert settings.channels(highlight=True) == frozenset(CHANNELS)
    assert settings.channels(highlight=False) == {"title"}
    assert not settings.show_encrypted_text and settings.terminal == "auto"


def test_every_setting_is_read() -> None:
    config = load_config(
        write_config(
            "[notifications]\n"
            "enabled = false\n"
            "desktop = false\n"
            'terminal = "osc777"\n'
            "bell = false\n"
            "title = true\n"
            'highlight = ["desktop", "bell", "terminal"]\n'
            'other = ["terminal"]\n'
            "show-encrypted-text = true\n"
            "rate-limit = 2.5\n"
            "summary-after = 10\n"
        )
    )
    assert config.errors == []
    settings = config.notifications
    assert not settings.enabled and settings.show_encrypted_text
    assert settings.terminal == "osc777" and settings.off == {"desktop", "bell"}
    assert settings.channels(highlight=True) == {"terminal"}
    assert settings.channels(highlight=False) == {"terminal"}
    assert (settings.rate_limit, settings.summary_after) == (2.5, 10)


def test_terminal_off_switches_the_terminal_channel_off() -> None:
    settings = load_config(write_config('[notifications]\nterminal = "off"\n')).notifications
    assert "terminal" in settings.off and "terminal" not in settings.channels(highlight=True)
    assert load_config(write_config("[notifications]\nterminal = true\n")).notifications == (
        NotificationsConfig()
    )


def test_each_bad_value_is_one_line_naming_it_and_the_default_stays() -> None:
    path = write_config(
        "[notifications]\n"
        'bell = "loud"\n'
        'terminal = "vt100"\n'
        'highlight = ["desktop", "pigeon"]\n'
        "rate-limit = -1\n"
        "summary-after = 2.5\n"
        "volume = 11\n"
    )
    config = load_config(path)
    assert config.errors == [
        f"{path}:2: bell: true or false, not 'loud'",
        f"{path}:3: terminal: one of auto, osc9, osc777, osc99, off, not 'vt100'",
        f"{path}:4: highlight: unknown 'pigeon' (one of desktop, terminal, bell, title)",
        f"{path}:5: rate-limit: seconds, at least 0, not -1",
        f"{path}:6: summary-after: a whole number above 0, not 2.5",
        f"{path}:7: unknown notifications setting 'volume' (enabled, desktop, terminal, bell, "
        "title, highlight, other, show-encrypted-text, rate-limit, summary-after)",
    ]
    settings = config.notifications
    assert settings.highlight == {"desktop"} and settings.terminal == "auto"
    assert settings.rate_limit == NotificationsConfig().rate_limit and not settings.off
    assert settings.summary_after == NotificationsConfig().summary_after


def test_a_notifications_value_that_is_not_a_table_is_one_line() -> None:
    path = write_config('notifications = "loud"\n')
    assert load_config(path).errors == [f"{path}:1: [notifications] must be a table"]
