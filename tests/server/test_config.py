"""ServerConfig: option normalisation, derived flags, the debugger guard."""

from __future__ import annotations

import pytest

from webkit_cli.server.config import ServerConfig, is_loopback_host


def test_defaults_are_local_and_reloading() -> None:
    config = ServerConfig.from_options()
    assert config.host == "127.0.0.1"
    assert config.port == 8000
    assert config.reload and config.live_reload
    assert config.is_loopback
    assert config.url(5001) == "http://127.0.0.1:5001/"


def test_live_reload_is_never_on_without_reload() -> None:
    assert not ServerConfig.from_options(reload=False).live_reload
    assert not ServerConfig.from_options(reload=False, live_reload=True).live_reload
    assert not ServerConfig.from_options(live_reload=False).live_reload


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_debugger_is_refused_on_a_non_loopback_host(host: str) -> None:
    with pytest.raises(ValueError, match="run code on this machine"):
        ServerConfig.from_options(host=host, debug=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_debugger_is_allowed_on_loopback(host: str) -> None:
    config = ServerConfig.from_options(host=host, debug=True)
    assert config.debug and config.is_loopback


def test_ipv6_and_any_hosts_have_openable_urls() -> None:
    assert ServerConfig.from_options(host="[::1]").url(80) == "http://[::1]:80/"
    assert ServerConfig.from_options(host="0.0.0.0").url(80) == "http://127.0.0.1:80/"
    assert ServerConfig.from_options(host="::").url(80) == "http://[::1]:80/"


def test_bad_port_and_log_format_say_the_fix() -> None:
    with pytest.raises(ValueError, match="0-65535"):
        ServerConfig.from_options(port=70000)
    with pytest.raises(ValueError, match="rich, plain, json"):
        ServerConfig.from_options(log_format="xml")


def test_json_round_trip_crosses_processes_unchanged(tmp_path: object) -> None:
    config = ServerConfig.from_options(
        port=0, watch=[str(tmp_path)], exclude=["data/*"], app="pkg:create_app", debug=True
    )
    assert ServerConfig.from_json(config.to_json()) == config


def test_is_loopback_host() -> None:
    assert is_loopback_host("localhost")
    assert not is_loopback_host("0.0.0.0")
    assert not is_loopback_host("no-such-host.invalid")


@pytest.mark.parametrize(
    ("value", "polls"), [(None, False), ("", False), ("0", False), ("false", False), ("1", True)]
)
def test_polling_can_be_forced_from_the_environment(value: str | None, polls: bool) -> None:
    """WATCHFILES_FORCE_POLLING (Docker images, network file systems) is read here, once."""
    environ = {} if value is None else {"WATCHFILES_FORCE_POLLING": value}
    assert ServerConfig.from_options(environ=environ).poll is polls
    assert ServerConfig.from_options(poll=True, environ=environ).poll


def test_the_environment_read_by_default_is_the_process_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WATCHFILES_FORCE_POLLING", "true")
    assert ServerConfig.from_options().poll
