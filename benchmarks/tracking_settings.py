"""Settings of benchmarks/tracking.py: the product's, with a hello-world view added under /t/
(public, through the same middleware as the tracking endpoints; tracking_urls.py)."""

from fidele.config.settings import *  # noqa: F403

ROOT_URLCONF = "tracking_urls"
