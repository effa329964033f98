"""Keys mode (SPEC §7): router keys for clients, upstream keys held by the router.

    tokens.py       generate `sk-edge-…` keys, hash them, the `KeyRecord` both stores keep
    store.py        the `KeyLookup`/`KeyStore` ports and the local JSON file store (`auth.keys_file`)
    dynamodb.py     the DynamoDB store: `pk = "key#<hash>"`, looked up by `GetItem`, never scanned
    auth.py         `KeysAuth`: the `Authenticator` for keys mode, with a small lookup cache
    upstream.py     upstream keys from `api_key_env` or Secrets Manager (Powertools, cached)
    build.py        `build_auth(config, environ, ...)`: what `serve` and the Lambda handler call

Importing this package imports neither boto3 nor Powertools; `build.py` does, when asked to.
"""
