"""A machine client that authenticates with private_key_jwt exactly as Authlib does it: its
OAuth2Session with the PrivateKeyJWT method, registered as Authlib's documentation shows.

    client.py keygen DIR
        writes DIR/private.pem (an RSA key: PrivateKeyJWT signs RS256 by default) and
        DIR/jwks.json (its public half, to register the client with)
    client.py run ISSUER CLIENT_ID KEY_FILE AUDIENCE
        discovers the endpoints, then asks for a client_credentials token, introspects it and
        revokes it, each authenticated by an assertion Authlib signs. AUDIENCE is
        "token-endpoint" (PrivateKeyJWT(token_endpoint), as in Authlib's documentation: every
        assertion names the token endpoint) or "request-url" (PrivateKeyJWT(): each names the
        URL it is sent to). Prints one JSON object: each step's HTTP status and body.
"""

import json
import os
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import RSAKey


def keygen(directory):
    key = RSAKey.generate_key(2048, private=True)
    with open(os.path.join(directory, "private.pem"), "wb") as f:
        f.write(key.as_pem(private=True))
    with open(os.path.join(directory, "jwks.json"), "w") as f:
        json.dump({"keys": [key.as_dict(private=False)]}, f)


def answer(response):
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return {"status": response.status_code, "body": body}


def run(issuer, client_id, key_file, audience):
    # The tests serve over http on loopback.
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    metadata = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
    token_endpoint = metadata["token_endpoint"]
    with open(key_file) as f:
        private_key = f.read()
    session = OAuth2Session(
        client_id,
        private_key,
        token_endpoint_auth_method="private_key_jwt",
        revocation_endpoint_auth_method="private_key_jwt",
        scope="api",
    )
    signer = PrivateKeyJWT(token_endpoint if audience == "token-endpoint" else None)
    session.register_client_auth_method(signer)

    result = {}
    try:
        token = session.fetch_token(token_endpoint, grant_type="client_credentials")
        result["token"] = {"status": 200, "body": dict(token)}
    except Exception as error:  # Authlib raises on an error answer: report it.
        result["token"] = {"status": None, "body": str(error)}
        print(json.dumps(result))
        return
    access_token = token["access_token"]
    result["introspection"] = answer(
        session.introspect_token(metadata["introspection_endpoint"], token=access_token)
    )
    result["revocation"] = answer(
        session.revoke_token(metadata["revocation_endpoint"], token=access_token)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1:2] == ["keygen"] and len(sys.argv) == 3:
        keygen(sys.argv[2])
    elif sys.argv[1:2] == ["run"] and len(sys.argv) == 6:
        run(*sys.argv[2:])
    else:
        sys.exit(__doc__)
