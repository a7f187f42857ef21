"""Configuration: defaults, overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import ConfigError, load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "whoknows.toml"
    path.write_text(text)
    return path


def test_defaults_apply_without_a_file(tmp_path: Path) -> None:
    config = load_config(None, environ={"WHOKNOWS_CONFIG_UNUSED": "1"})
    assert config.database.url.startswith("sqlite")
    assert config.search.engine == "sqlite"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, """
[database]
url = "sqlite:///a.db"
[[sources]]
id = "intranet-blog"
kind = "rss"
url = "https://blog.example/feed"
audience = "internal"
credentials_env = "BLOG_TOKEN"
""")
    config = load_config(path, environ={
        "WHOKNOWS_DATABASE_URL": "sqlite:///b.db",
        "WHOKNOWS_SOURCE_INTRANET_BLOG_URL": "https://other.example/feed",
        "WHOKNOWS_SOURCE_INTRANET_BLOG_HALF_LIFE_DAYS": "30",
        "BLOG_TOKEN": "s3cret",
    })
    assert config.database.url == "sqlite:///b.db"
    source = config.source("intranet-blog")
    assert source is not None and source.url == "https://other.example/feed"
    assert source.half_life_days == 30
    assert config.secrets == {"intranet-blog": "s3cret"}


@pytest.mark.parametrize(("text", "named"), [
    ('[[sources]]\nid = "x"\nkind = "rss"\naudience = "outer-space"\nurl = "u"',
     "sources[0].audience"),
    ('[[sources]]\nid = "x"\nkind = "rss"\naudience = "internal"', "sources[0].url"),
    ('[reputation]\ndefault_half_life_days = "soon"', "reputation.default_half_life_days"),
    ('[database]\nurl = "mysql://x"', "database.url"),
    ('[database]\nurl = "postgresql+psycopg://db/x"', "search.engine"),
    ('[databse]\nurl = "sqlite:///x"', "databse"),
    ('[[sources]]\nid = "a"\nkind = "push"\naudience = "internal"\n'
     '[[sources]]\nid = "a"\nkind = "push"\naudience = "external"', "sources[1].id"),
])
def test_invalid_config_fails_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        load_config(_write(tmp_path, text), environ={})


def test_a_missing_file_asked_for_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", environ={})


def test_the_page_sign_in_is_configured_from_the_environment(tmp_path: Path) -> None:
    config = load_config(None, environ={
        "WHOKNOWS_WEB_OIDC_METADATA_URL": "https://idp.example/.well-known/openid-configuration",
        "WHOKNOWS_WEB_CLIENT_ID": "whoknows-page",
        "WHOKNOWS_WEB_SESSION_SECRET_ENV": "PAGE_SESSION_KEY",
        "WHOKNOWS_WEB_SECURE_COOKIES": "false",
        "PAGE_SESSION_KEY": "k" * 32,
    })
    assert config.web.client_id == "whoknows-page"
    assert config.web.oidc_metadata_url.startswith("https://idp.example/")
    assert config.web.secure_cookies is False
    assert config.web_secrets == {"session_secret": "k" * 32}
    with pytest.raises(ConfigError, match="web.session_minutes"):
        load_config(None, environ={"WHOKNOWS_WEB_SESSION_MINUTES": "forever"})


_SMTP = '[smtp]\nhost = "smtp.example.com"\nfrom = "whoknows@example.com"\n'


def test_the_mail_server_is_configured_with_its_login_from_the_environment(
        tmp_path: Path) -> None:
    assert load_config(None, environ={}).smtp is None  # no section: no claim links
    path = _write(tmp_path, _SMTP + 'username_env = "SMTP_USER"\npassword_env = "SMTP_PW"\n')
    config = load_config(path, environ={"SMTP_USER": "wk", "SMTP_PW": "pw",
                                        "WHOKNOWS_SMTP_PORT": "465",
                                        "WHOKNOWS_SMTP_SECURITY": "ssl"})
    assert config.smtp is not None and config.smtp.sender == "whoknows@example.com"
    assert (config.smtp.port, config.smtp.security) == (465, "ssl")
    assert config.smtp_auth == ("wk", "pw")
    with pytest.raises(ConfigError, match="smtp.password_env: the variable SMTP_PW"):
        load_config(path, environ={"SMTP_USER": "wk"})


@pytest.mark.parametrize(("text", "named"), [
    ('[smtp]\nfrom = "a@example.com"', "smtp: .*`host`"),
    ('[smtp]\nhost = "smtp.example.com"', "smtp: .*`from`"),
    ('[smtp]\nhost = "smtp://mail:25"\nfrom = "a@example.com"', "smtp.host"),
    (_SMTP + "port = 70000", "smtp.port"),
    ('[smtp]\nhost = "mail"\nfrom = "nobody"', "smtp.from"),
    (_SMTP + 'security = "tls"', "smtp.security"),
    (_SMTP + "timeout_seconds = 0", "smtp.timeout_seconds"),
    (_SMTP + 'username_env = "U"', "smtp.password_env"),
    (_SMTP + 'password = "in the file"', "smtp"),
])
def test_invalid_mail_server_settings_fail_naming_the_key(tmp_path: Path, text: str,
                                                          named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(_write(tmp_path, text), environ={})
