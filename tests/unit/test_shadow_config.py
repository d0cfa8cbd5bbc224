"""Shadow traffic's mount keys (amphicorn/shadow.py): checked by ``Config.validate`` for every
source (a config file, ``amphicorn.run``), with messages that name the key and the value.
What it shares with the weighted canary (resolving the link, a key without it, a config
file's table and key in messages) is test_mount_links.py's."""

from __future__ import annotations

import pytest
from amphicorn import shadow
from amphicorn.config import Config, ConfigError, MountConfig


def config(**shadow_fields) -> Config:
    return Config(
        mounts=[
            MountConfig("/shop", "shop:app", name="shop", **shadow_fields),
            MountConfig("/_next", "next:app", name="next"),
        ]
    )


def test_good_settings_are_converted():
    validated = config(
        shadow="next",
        shadow_sample="0.25",
        shadow_methods="get, post",
        shadow_ignore_headers=["X-Request-Id", "ETag"],
    ).validate()
    settings = shadow.settings_for(validated.mounts[0], validated.resolve)
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
