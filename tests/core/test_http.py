"""The client's address, with and without reverse proxies in front."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from fidele.core.http import client_ip


def request(remote="10.0.0.1", forwarded=None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


def test_without_a_proxy_the_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = 0
    assert client_ip(request(forwarded="203.0.113.7")) == "10.0.0.1"


def test_behind_one_proxy_the_address_it_saw_is_the_client(settings):
    settings.TRUSTED_PROXIES = 1
    # The client wrote "1.2.3.4" itself; the proxy appended the address it really came from.
    assert client_ip(request(forwarded="1.2.3.4, 203.0.113.7")) == "203.0.113.7"


def test_behind_two_proxies_the_outer_one_names_the_client(settings):
    settings.TRUSTED_PROXIES = 2
    assert client_ip(request(forwarded="1.2.3.4, 203.0.113.7, 10.0.0.9")) == "203.0.113.7"


@pytest.mark.parametrize("forwarded", [None, "", "not-an-address", " , "])
def test_a_header_that_does_not_match_the_proxies_falls_back_to_the_connection(settings, forwarded):
    settings.TRUSTED_PROXIES = 1
    assert client_ip(request(forwarded=forwarded)) == "10.0.0.1"
