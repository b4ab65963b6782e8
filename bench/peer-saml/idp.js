// samlify as a SAML 2.0 identity provider, set up like Latchkey's POST /saml/sso, for
// bench/saml.sh to measure side by side (PEER=1).
//   PORT=9090 IDP_KEY=idp.key IDP_CERT=idp.crt SP_CERT=sp.crt node idp.js
// Answers POST /saml/sso (an unsigned AuthnRequest, HTTP-POST binding) with an auto-post form
// holding a SAMLResponse whose assertion is signed (RSA-SHA256, exclusive c14n, SHA-256
// digest), for two SPs:
//   https://plain.bench.example       the assertion signed
//   https://encrypted.bench.example   signed, then encrypted to SP_CERT: AES-256-GCM, the key
//                                     carried with RSA-OAEP (rsa-oaep-mgf1p), as Latchkey does
// and GET /healthz. One worker process per core (node:cluster), as Latchkey uses every core.
//
// It does less than Latchkey per sign-on: no session to read (the person is a fixed
// agent@bench.example), no team membership to check, no database (Latchkey stores each request's
// ID and refuses a replay; here a replayed request is answered again), and no schema validation
// of the AuthnRequest (see below). It reads the request (xmldom), picks the SP by its Issuer,
// checks the ACS URL against the SP's, and builds, signs and (for one SP) encrypts the response.
'use strict';
const cluster = require('node:cluster');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const saml = require('samlify');

const port = Number(process.env.PORT || 9090);
const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

if (cluster.isPrimary) {
  const workers = Number(process.env.WORKERS) || os.availableParallelism();
  // samlify refuses to read a message without a schema validator. The official one
  // (@authenio/samlify-xsd-schema-validator) runs the XSDs in Java; the others are Java or a
  // WebAssembly xmllint. Neither belongs in a Node peer's hot path, so none is used.
  console.log(`peer-saml: samlify ${require('samlify/package.json').version}, ${workers} workers,`
    + ' schema validation off (the AuthnRequest is only parsed: Latchkey\'s reader is stricter)');
  for (let i = 0; i < workers; i++) cluster.fork();
  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === workers) console.log(`peer-saml listening on 127.0.0.1:${port}`);
  });
  cluster.on('exit', (_, code, signal) => {
    console.error(`peer-saml: a worker ended (${signal || code})`);
    process.exitCode = 1;
  });
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => { for (const w of Object.values(cluster.workers)) w.kill(); process.exit(0); });
  }
  return;
}

saml.setSchemaValidator({ validate: async () => 'skipped' });

const read = (name) => {
  const path = process.env[name];
  if (!path) throw new Error(`${name} (a PEM file) is needed`);
  return fs.readFileSync(path, 'utf8');
};
// The key parsed once, as Latchkey keeps its key parsed: xml-crypto passes it to crypto.sign,
// which takes a KeyObject as readily as a PEM string (that it would parse on every signature).
const privateKey = crypto.createPrivateKey(read('IDP_KEY'));
const signingCert = read('IDP_CERT');
const spCert = read('SP_CERT');
const issuer = `http://127.0.0.1:${port}`;

const attributes = [
  { name: 'email', valueTag: 'email' },
  { name: 'displayName', valueTag: 'displayName' },
].map((a) => ({
  ...a,
  nameFormat: 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
  valueXsiType: 'xs:string',
}));
// samlify's own response template, with an AttributeStatement built from `attributes`.
// samlify fills {AuthnStatement} with nothing unless the caller does: fill() below does.
const idpSettings = {
  entityID: issuer,
  privateKey,
  signingCert,
  wantAuthnRequestsSigned: false,
  nameIDFormat: [EMAIL_FORMAT],
  singleSignOnService: [{ Binding: POST, Location: `${issuer}/saml/sso` }],
  singleLogoutService: [{ Binding: POST, Location: `${issuer}/saml/slo` }], // named, not served
  loginResponseTemplate: { context: saml.SamlLib.defaultLoginResponseTemplate.context, attributes },
};
// Whether the assertion is encrypted is an IdP setting in samlify: one IdP per way.
const plainIdp = saml.IdentityProvider({ ...idpSettings, isAssertionEncrypted: false });
const encryptingIdp = saml.IdentityProvider({
  ...idpSettings,
  isAssertionEncrypted: true,
  dataEncryptionAlgorithm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  keyEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
});
const sps = new Map();
for (const [name, idp] of [['plain', plainIdp], ['encrypted', encryptingIdp]]) {
  const entityID = `https://${name}.bench.example`;
  const sp = saml.ServiceProvider({
    entityID,
    assertionConsumerService: [{ Binding: POST, Location: `${entityID}/acs` }],
    wantAssertionsSigned: true,
    authnRequestsSigned: false,
    nameIDFormat: [EMAIL_FORMAT],
    ...(idp === encryptingIdp ? { encryptCert: spCert } : {}),
  });
  sps.set(entityID, { sp, idp, acs: `${entityID}/acs` });
}
const anySp = sps.values().next().value;

const user = { email: 'agent@bench.example', displayName: 'Bench Agent' };
const iso = (ms) => new Date(ms).toISOString();

// The values samlify's own POST binding would fill in, and the AuthnStatement.
function fill(idp, entry, requestId) {
  return (template) => {
    const now = Date.now();
    const expires = iso(now + 5 * 60 * 1000);
    const id = idp.entitySetting.generateID();
    const authnStatement = `<saml:AuthnStatement AuthnInstant="${iso(now)}" SessionIndex="${idp.entitySetting.generateID()}"`
      + ` SessionNotOnOrAfter="${iso(now + 8 * 3600 * 1000)}"><saml:AuthnContext><saml:AuthnContextClassRef>`
      + 'urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>';
    const values = {
      ID: id,
      AssertionID: idp.entitySetting.generateID(),
      Destination: entry.acs,
      Audience: entry.sp.entityMeta.getEntityID(),
      SubjectRecipient: entry.acs,
      Issuer: issuer,
      IssueInstant: iso(now),
      StatusCode: saml.Constants.StatusCode.Success,
      ConditionsNotBefore: iso(now - 30 * 1000),
      ConditionsNotOnOrAfter: expires,
      SubjectConfirmationDataNotOnOrAfter: expires,
      NameIDFormat: EMAIL_FORMAT,
      NameID: user.email,
      InResponseTo: requestId,
      attrEmail: user.email,
      attrDisplayName: user.displayName,
    };
    // The AuthnStatement is XML, not a value to escape: it goes into the template first.
    const context = saml.SamlLib.replaceTagsByValue(template.replace('{AuthnStatement}', authnStatement), values);
    return { id, context };
  };
}

const escape = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function answer(res, status, body, type = 'text/plain; charset=utf-8') {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

async function sso(body) {
  const form = new URLSearchParams(body);
  const samlRequest = form.get('SAMLRequest');
  if (!samlRequest) return [400, 'SAMLRequest is missing'];
  const relayState = form.get('RelayState');
  // With unsigned requests the SP handed to samlify only matters for checking a signature, so
  // the request is read once and its SP picked by the Issuer it names.
  let parsed;
  try {
    parsed = await anySp.idp.parseLoginRequest(anySp.sp, 'post', { body: { SAMLRequest: samlRequest } });
  } catch (e) {
    return [400, `the AuthnRequest was refused: ${e.message}`];
  }
  const { issuer: spId, request } = parsed.extract;
  const entry = sps.get(spId);
  if (!entry) return [403, 'unknown SP'];
  if (!request || !request.id) return [400, 'the AuthnRequest has no ID'];
  if (request.assertionConsumerServiceUrl && request.assertionConsumerServiceUrl !== entry.acs) {
    return [403, 'the ACS URL is not the SP\'s'];
  }
  const { context, entityEndpoint } = await entry.idp.createLoginResponse(entry.sp, parsed, 'post', user, {
    customTagReplacement: fill(entry.idp, entry, request.id),
    relayState: relayState || undefined,
  });
  const relay = relayState ? `<input type="hidden" name="RelayState" value="${escape(relayState)}">` : '';
  return [200, '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Signing in</title></head>'
    + '<body onload="document.forms[0].submit()">'
    + `<form method="post" action="${escape(entityEndpoint)}">`
    + `<input type="hidden" name="SAMLResponse" value="${context}">${relay}`
    + '<noscript><button type="submit">Continue</button></noscript></form></body></html>',
    'text/html; charset=utf-8'];
}

http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') return answer(res, 200, 'ok');
  if (req.url !== '/saml/sso') return answer(res, 404, 'not found');
  if (req.method !== 'POST') return answer(res, 405, 'POST only');
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > 256 * 1024) { answer(res, 413, 'too large'); req.destroy(); } else chunks.push(c);
  });
  req.on('end', () => {
    if (res.writableEnded) return;
    sso(Buffer.concat(chunks).toString('latin1')).then(
      ([status, body, type]) => answer(res, status, body, type),
      (e) => { console.error(e); answer(res, 500, 'error'); },
    );
  });
}).listen(port, '127.0.0.1');
