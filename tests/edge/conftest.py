"""Reader fixtures: a loopback CDN, real encrypted bundles (KMS on moto + SDK keys)."""

from tests.client.fixtures import (
    cdn,
    client_key,
    envelope,
    factory,
    kms,
    publisher_pem,
    server_key,
    signed_factory,
    signer,
)

__all__ = ["cdn", "client_key", "envelope", "factory", "kms", "publisher_pem", "server_key",
           "signed_factory", "signer"]
