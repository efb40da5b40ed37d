"""Reader fixtures: a loopback CDN, real encrypted bundles (KMS on moto + SDK keys)."""

from tests.client.fixtures import cdn, client_key, envelope, factory, kms, server_key

__all__ = ["cdn", "client_key", "envelope", "factory", "kms", "server_key"]
