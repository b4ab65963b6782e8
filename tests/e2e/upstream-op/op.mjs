// node-oidc-provider standing in for a team's own identity provider (Okta, Entra ID…), started
// by the end-to-end tests:
//   node op.mjs PORT CLIENT_ID CLIENT_SECRET
// The client's redirect URIs are added with /_control/redirect?uri=… once Latchkey has made
// the connection (each has its own). ACCOUNTS (JSON, in the environment) maps an account key
// to its claims. The interaction signs in as the login_hint, or else as the account chosen
// with /_control/login-as, and grants what was asked: the tests drive it over HTTP.
// /_control/token-calls counts its token requests; the rest of /_control/* makes it misbehave
// the ways a provider can: refuse (access_denied), answer slowly, or send an ID token for
// another audience or signed by a key it does not publish.
import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';
import { SignJWT, decodeJwt, importJWK } from 'jose';

const [port, clientId, clientSecret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.ACCOUNTS || '{}');
// sub → the account key it last signed in as.
const signedInAs = {};
const control = { account: null, deny: false, slowMs: 0, tamper: null, tokenCalls: 0 };

const newKey = (kid) => {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
};
const signingKey = newKey('op-1');

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [`${issuer}/placeholder`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [signingKey] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  // The claims in the ID token itself, as Okta and Entra ID put them.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // An account's `sub` is its "sub" (or its key); the claims are those of the key it last
  // signed in as, so one person can come back with another address.
  async findAccount(ctx, sub) {
    const account = accounts[signedInAs[sub]];
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        const { sub: _, ...claims } = account;
        return { sub, ...claims };
      },
    };
  },
});

// The token endpoint's answer, changed on request.
provider.use(async (ctx, next) => {
  if (ctx.path === '/token') control.tokenCalls += 1;
  if (ctx.path === '/token' && control.slowMs) {
    await new Promise((resolve) => setTimeout(resolve, control.slowMs));
  }
  await next();
  if (ctx.path === '/token' && control.tamper && ctx.body && ctx.body.id_token) {
    const claims = decodeJwt(ctx.body.id_token);
    const mode = control.tamper;
    control.tamper = null;
    const key = mode === 'key' ? newKey('unknown-1') : signingKey;
    if (mode === 'audience') claims.aud = 'someone-else';
    ctx.body.id_token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
      .sign(await importJWK(key, 'ES256'));
  }
});

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  if (control.deny) {
    control.deny = false;
    return provider.interactionFinished(req, res,
      { error: 'access_denied', error_description: 'The person declined' },
      { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'login') {
    const key = params.login_hint || control.account;
    const accountId = (accounts[key] && accounts[key].sub) || key;
    signedInAs[accountId] = key;
    return provider.interactionFinished(req, res, { login: { accountId } },
      { mergeWithLastSubmission: false });
  }
  const grant = new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } },
    { mergeWithLastSubmission: true });
}

const callback = provider.callback();
http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (url.pathname === '/_control/login-as') {
      control.account = url.searchParams.get('account');
    } else if (url.pathname === '/_control/redirect') {
      const client = await provider.Client.find(clientId);
      client.redirectUris.push(url.searchParams.get('uri'));
    } else if (url.pathname === '/_control/deny') {
      control.deny = true;
    } else if (url.pathname === '/_control/slow') {
      control.slowMs = Number(url.searchParams.get('ms') || 0);
    } else if (url.pathname === '/_control/tamper') {
      control.tamper = url.searchParams.get('mode');
    } else if (url.pathname === '/_control/token-calls') {
      return res.end(String(control.tokenCalls));
    } else if (url.pathname.startsWith('/interaction/')) {
      return await interaction(req, res);
    } else {
      return callback(req, res);
    }
    res.end('ok');
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error));
  }
}).listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
