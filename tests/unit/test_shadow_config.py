"""Shadow traffic's mount keys (amphicorn/shadow.py): checked by ``Config.validate`` for every
source (a config file, ``amphicorn.run``), with messages that name the key and the value."""

from __future__ import annotations

from pathlib import Path

import pytest
from amphicorn import cli, shadow
from amphicorn.config import Config, ConfigError, MountConfig


def config(**shadow_fields) -> Config:
    return Config(
        mounts=[
            MountConfig("/shop", "shop:app", name="shop", **shadow_fields),
            MountConfig("/_next", "next:app", name="next"),
        ]
    )


def test_good_settings_are_converted_and_resolved_by_name_or_prefix():
    for reference in ("next", "/_next", "/_next/"):
        validated = config(
            shadow=reference,
            shadow_sample="0.25",
            shadow_methods="get, post",
            shadow_ignore_headers=["X-Request-Id", "ETag"],
        ).validate()
        shop = validated.mounts[0]
        settings = shadow.settings_for(shop, validated.resolve)
        assert settings == {
            "shadow": "/_next",
            "shadow_sample": 0.25,
            "shadow_methods": ["GET", "POST"],
            "shadow_ignore_headers": ["x-request-id", "etag"],
            "shadow_max_concurrency": 8,
        }


def test_defaults_shadow_only_the_safe_methods_of_every_request():
    validated = config(shadow="next").validate()
    settings = shadow.settings_for(validated.mounts[0], validated.resolve)
    assert (settings["shadow_sample"], settings["shadow_methods"]) == (1.0, ["GET", "HEAD"])
    assert shadow.settings_for(validated.mounts[1], validated.resolve)["shadow"] is None
    # A sample of 0 is kept, not taken for "unset".
    zero = config(shadow="next", shadow_sample=0).validate()
    assert shadow.settings_for(zero.mounts[0], zero.resolve)["shadow_sample"] == 0.0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"shadow": "nowhere"}, "shadow 'nowhere' of mount '/shop': expected the name or prefix of another mount"),
        ({"shadow": "shop"}, "shadow 'shop' of mount '/shop'"),
        ({"shadow_sample": 0.5}, "shadow-sample 0.5 of mount '/shop': given, but the mount names no shadow"),
        ({"shadow": "next", "shadow_sample": 1.5}, "shadow-sample of mount '/shop' 1.5: expected a rate from 0 to 1"),
        ({"shadow": "next", "shadow_sample": "half"}, "shadow-sample of mount '/shop' 'half'"),
        ({"shadow": "next", "shadow_methods": []}, "shadow-methods of mount '/shop' []: expected a list of HTTP"),
        ({"shadow": "next", "shadow_methods": ["GE T"]}, "shadow-methods of mount '/shop' 'GE T'"),
        ({"shadow": "next", "shadow_ignore_headers": ["X Id"]}, "shadow-ignore-headers of mount '/shop' 'X Id'"),
        ({"shadow": "next", "shadow_max_concurrency": 0}, "shadow-max-concurrency of mount '/shop' 0"),
    ],
)
def test_bad_settings_name_the_key_and_the_value(fields, message):
    with pytest.raises(ConfigError) as raised:
        config(**fields).validate()
    assert message in str(raised.value)


def test_a_config_file_names_the_table_and_key(tmp_path: Path):
    file = tmp_path / "amphicorn.toml"
    file.write_text(
        "[[mount]]\nprefix = '/shop'\napp = 'a:app'\nshadow = 'next'\nshadow-sample = 2\n"
        "[[mount]]\nprefix = '/_next'\napp = 'c:app'\nname = 'next'\n"
    )
    with pytest.raises(ConfigError, match=r"mount #1 shadow-sample 2: expected a rate from 0 to 1"):
        cli.config_from_args(cli.build_parser().parse_args([f"--config={file}"]), {})
