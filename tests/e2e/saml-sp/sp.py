"""A SAML 2.0 service provider for Latchkey's tests, on pysaml2 (which checks signatures and
decrypts with xmlsec1). Each command reads and writes its state in DIR and prints one JSON
value: the test is the browser, this is the SP's server side.

  sp.py DIR init ENTITY_ID ACS_URL SLO_URL        make a key and certificate (sp.crt)
  sp.py DIR login BINDING [RELAY_STATE] [--force] [--passive] [--acs URL]
                                                  an AuthnRequest, signed: {"id", "url"} or {"id", "action", "fields"}
  sp.py DIR acs SAML_RESPONSE [--unsolicited] [--response-signed]
                                                  check a Response (its assertion signed, or the
                                                  response): {"ok", "name_id", "attributes", ...}
  sp.py DIR logout BINDING NAME_ID SESSION_INDEX  a signed LogoutRequest
  sp.py DIR logout-response BINDING MESSAGE       check a LogoutResponse (BINDING redirect: the query)
  sp.py DIR idp-logout QUERY                      check a LogoutRequest the IdP sent over HTTP-Redirect
                                                  (signed, to this SP) and answer it, signed:
                                                  {"ok", "name_id", "session_indexes", "url"}

The identity provider's metadata is DIR/idp.xml. Exit status 0 unless the command is wrong:
a refused message is {"ok": false, "error": ...}.
"""

import base64
import datetime
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def path(d, name):
    return os.path.join(d, name)


def load(d, name, default):
    try:
        with open(path(d, name)) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def save(d, name, value):
    with open(path(d, name), "w") as f:
        json.dump(value, f)


def init(d, entity_id, acs, slo):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-sp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    with open(path(d, "sp.key"), "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(path(d, "sp.crt"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    save(d, "config.json", {"entity_id": entity_id, "acs": acs, "slo": slo})
    return {"ok": True, "cert": path(d, "sp.crt")}


def client(d, unsolicited=False, response_signed=False):
    conf = load(d, "config.json", None)
    cfg = {
        "entityid": conf["entity_id"],
        "key_file": path(d, "sp.key"),
        "cert_file": path(d, "sp.crt"),
        "encryption_keypairs": [{"key_file": path(d, "sp.key"), "cert_file": path(d, "sp.crt")}],
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "metadata": {"local": [path(d, "idp.xml")]},
        "service": {
            "sp": {
                "endpoints": {
                    "assertion_consumer_service": [(conf["acs"], BINDING_HTTP_POST)],
                    "single_logout_service": [
                        (conf["slo"], BINDING_HTTP_REDIRECT),
                        (conf["slo"], BINDING_HTTP_POST),
                    ],
                },
                "want_response_signed": response_signed,
                "want_assertions_signed": not response_signed,
                "authn_requests_signed": True,
                "logout_requests_signed": True,
                "allow_unsolicited": unsolicited,
                "name_id_format": conf.get("name_id_format", EMAIL),
            }
        },
        "allow_unknown_attributes": True,
        "accepted_time_diff": 5,
    }
    c = SPConfig()
    c.load(cfg)
    return Saml2Client(config=c)


def idp_entity(d):
    import xml.etree.ElementTree as ET

    return ET.parse(path(d, "idp.xml")).getroot().get("entityID")


def binding_of(name):
    return {"redirect": BINDING_HTTP_REDIRECT, "post": BINDING_HTTP_POST}[name]


def outgoing(binding, info):
    if binding == BINDING_HTTP_REDIRECT:
        return {"url": dict(info["headers"])["Location"]}
    import re

    body = info["data"]
    action = re.search(r'action="([^"]+)"', body).group(1)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', body))
    return {"action": action, "fields": fields}


def login(d, args):
    cl = client(d)
    binding = binding_of(args[0])
    relay = args[1] if len(args) > 1 and not args[1].startswith("--") else ""
    extra = {}
    if "--force" in args:
        extra["force_authn"] = "true"
    if "--passive" in args:
        extra["is_passive"] = "true"
    if "--acs" in args:
        extra["assertion_consumer_service_url"] = args[args.index("--acs") + 1]
    rid, info = cl.prepare_for_authenticate(
        entityid=idp_entity(d),
        relay_state=relay,
        binding=binding,
        sign=True,
        sigalg=RSA_SHA256,
        digest_alg=SHA256,
        **extra,
    )
    outstanding = load(d, "outstanding.json", {})
    outstanding[rid] = "/"
    save(d, "outstanding.json", outstanding)
    out = {"id": rid}
    out.update(outgoing(binding, info))
    return out


def acs(d, response, unsolicited, response_signed):
    cl = client(d, unsolicited, response_signed)
    outstanding = load(d, "outstanding.json", {})
    try:
        r = cl.parse_authn_request_response(response, BINDING_HTTP_POST, outstanding=outstanding)
    except Exception as e:  # the SP refuses: the test asserts it
        return {"ok": False, "error": type(e).__name__ + ": " + str(e)[:500]}
    if r is None:
        return {"ok": False, "error": "no response"}
    statement = r.assertion.authn_statement[0]
    return {
        "ok": True,
        "name_id": r.name_id.text,
        "name_id_format": r.name_id.format,
        "attributes": {k: v for k, v in r.ava.items()},
        "session_index": statement.session_index,
        "authn_context": statement.authn_context.authn_context_class_ref.text,
        "in_response_to": r.in_response_to,
        "assertion_signed": r.assertion.signature is not None,
        "response_signed": r.response.signature is not None,
        "audience": [a.text for a in r.assertion.conditions.audience_restriction[0].audience],
    }


def logout(d, args):
    from saml2.saml import NameID

    cl = client(d)
    binding = binding_of(args[0])
    name_id = NameID(format=load(d, "config.json", None).get("name_id_format", EMAIL), text=args[1])
    destination = cl.sp_slo_location = None
    services = cl.metadata.single_logout_service(idp_entity(d), binding, "idpsso")
    destination = services[0]["location"]
    rid, request = cl.create_logout_request(
        destination,
        idp_entity(d),
        name_id=name_id,
        session_indexes=[args[2]],
        sign=binding == BINDING_HTTP_POST,
        sign_alg=RSA_SHA256,
        digest_alg=SHA256,
    )
    info = cl.apply_binding(
        binding,
        str(request),
        destination,
        relay_state="slo-relay",
        sign=binding == BINDING_HTTP_REDIRECT,
        sigalg=RSA_SHA256,
    )
    out = {"id": rid}
    out.update(outgoing(binding, info))
    return out


def logout_response(d, args):
    cl = client(d)
    binding = binding_of(args[0])
    try:
        if binding == BINDING_HTTP_REDIRECT:
            from urllib.parse import parse_qs

            from saml2.sigver import verify_redirect_signature

            q = {k: v[0] for k, v in parse_qs(args[1]).items()}
            r = cl.parse_logout_request_response(q["SAMLResponse"], binding)
            certs = cl.metadata.certs(idp_entity(d), "idpsso", "signing")
            ok = "Signature" in q and any(
                verify_redirect_signature(q, cl.sec.sec_backend, cert) for _, cert in certs
            )
        else:
            r = cl.parse_logout_request_response(args[1], binding)
            ok = r.response.signature is not None
    except Exception as e:
        return {"ok": False, "error": type(e).__name__ + ": " + str(e)[:500]}
    return {
        "ok": r.status_ok(),
        "signed": bool(ok),
        "in_response_to": r.in_response_to,
    }


def idp_logout(d, args):
    from urllib.parse import parse_qs

    from saml2.sigver import verify_redirect_signature

    cl = client(d)
    q = {k: v[0] for k, v in parse_qs(args[0]).items()}
    try:
        certs = cl.metadata.certs(idp_entity(d), "idpsso", "signing")
        signed = "Signature" in q and any(
            verify_redirect_signature(q, cl.sec.sec_backend, cert) for _, cert in certs
        )
        if not signed:
            return {"ok": False, "error": "the LogoutRequest is not signed by the IdP"}
        req = cl.parse_logout_request(q["SAMLRequest"], BINDING_HTTP_REDIRECT)
    except Exception as e:
        return {"ok": False, "error": type(e).__name__ + ": " + str(e)[:500]}
    msg = req.message
    response = cl.create_logout_response(msg, [BINDING_HTTP_REDIRECT])
    destination = cl.metadata.single_logout_service(idp_entity(d), BINDING_HTTP_REDIRECT, "idpsso")[0][
        "location"
    ]
    info = cl.apply_binding(
        BINDING_HTTP_REDIRECT,
        str(response),
        destination,
        relay_state=q.get("RelayState", ""),
        response=True,
        sign=True,
        sigalg=RSA_SHA256,
    )
    out = {
        "ok": True,
        "id": msg.id,
        "name_id": msg.name_id.text,
        "session_indexes": [s.text for s in msg.session_index],
    }
    out.update(outgoing(BINDING_HTTP_REDIRECT, info))
    return out


def main():
    d, command, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if command == "init":
        out = init(d, *args[:3])
    elif command == "login":
        out = login(d, args)
    elif command == "acs":
        out = acs(d, args[0], "--unsolicited" in args, "--response-signed" in args)
    elif command == "logout":
        out = logout(d, args)
    elif command == "logout-response":
        out = logout_response(d, args)
    elif command == "idp-logout":
        out = idp_logout(d, args)
    else:
        sys.exit("unknown command " + command)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
