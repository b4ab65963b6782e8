// node-oidc-provider standing in for a team's own identity provider (Okta, Entra ID…), started
// by the end-to-end tests:
//   node op.mjs PORT CLIENT_ID CLIENT_SECRET
// The client's redirect URIs are added with /_control/redirect?uri=… once Latchkey has made
// the connection (each has its own). ACCOUNTS (JSON, in the environment) maps an account key
// to its claims. The interaction signs in as the login_hint, or else as the account chosen
// with /_control/login-as, and grants what was asked: the tests drive it over HTTP. With
// /_control/interactive?on=1 its login prompt is a page with a button instead, for a browser.
// THIN_ID_TOKENS=1 (in the environment) makes its code-flow ID tokens thin, as Okta's are:
// `sub`, `auth_time` and the like, the person's claims at UserInfo only.
// /_control/token-calls counts its token requests, /_control/authorizations lists the
// authorization requests it received (prompt, max_age, hd, login_hint) and /_control/logins
// the login prompts it showed; the rest of /_control/* makes it misbehave the ways a provider
// can: refuse (access_denied), answer slowly, send an ID token for another audience, signed
// by a key it does not publish, or with an old auth_time, or answer UserInfo for another sub.
import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';
import { SignJWT, decodeJwt, importJWK } from 'jose';

const [port, clientId, clientSecret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.ACCOUNTS || '{}');
// sub → the account key it last signed in as.
const signedInAs = {};
const thin = process.env.THIN_ID_TOKENS === '1';
const control = {
  account: null, deny: false, slowMs: 0, tamper: null, tokenCalls: 0,
  authTimeAgo: null, userinfoSub: null, interactive: false, authorizations: [], logins: [],
};

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
    // Google's `hd`, for the accounts that have one.
    openid: ['sub', 'hd'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  // By default the claims are in the ID token itself, as Google puts them (and Entra ID the
  // ones it has); thin, as Okta's code flow gives them, they are at UserInfo only.
  conformIdTokenClaims: thin,
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

// The authorization requests received, the token endpoint's and UserInfo's answers changed
// on request.
provider.use(async (ctx, next) => {
  if (ctx.path === '/auth') {
    const { prompt, max_age: maxAge, hd, login_hint: loginHint } = ctx.query;
    control.authorizations.push({
      prompt: prompt ?? null, max_age: maxAge ?? null, hd: hd ?? null, login_hint: loginHint ?? null,
    });
  }
  if (ctx.path === '/token') control.tokenCalls += 1;
  if (ctx.path === '/token' && control.slowMs) {
    await new Promise((resolve) => setTimeout(resolve, control.slowMs));
  }
  await next();
  if (ctx.path === '/me' && control.userinfoSub && ctx.body && ctx.body.sub) {
    ctx.body = { ...ctx.body, sub: control.userinfoSub };
    control.userinfoSub = null;
  }
  if (ctx.path === '/token' && control.authTimeAgo !== null && ctx.body && ctx.body.id_token) {
    control.tamper = 'auth-time';
  }
  if (ctx.path === '/token' && control.tamper && ctx.body && ctx.body.id_token) {
    const claims = decodeJwt(ctx.body.id_token);
    const mode = control.tamper;
    control.tamper = null;
    const key = mode === 'key' ? newKey('unknown-1') : signingKey;
    if (mode === 'audience') claims.aud = 'someone-else';
    if (mode === 'no-auth-time') delete claims.auth_time;
    if (mode === 'auth-time') {
      claims.auth_time = Math.floor(Date.now() / 1000) - control.authTimeAgo;
      control.authTimeAgo = null;
    }
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
    if (control.interactive && req.method !== 'POST') {
      return loginPage(res, params);
    }
    control.logins.push({ reasons: prompt.reasons });
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

// The provider's own sign-in page: the person presents their credential (here, a button).
function loginPage(res, params) {
  const who = String(params.login_hint || control.account || '').replace(/[^\w@.+-]/g, '');
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><html lang="en"><head><title>Acme IdP sign-in</title></head><body>
<h1>Acme IdP: sign in</h1><p>Enter your password to continue as <strong>${who}</strong>.</p>
<form method="post"><label for="password">Password</label> <input type="password" name="password" id="password">
<button type="submit" id="sign-in">Sign in</button></form></body></html>`);
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
    } else if (url.pathname === '/_control/authorizations') {
      return res.end(JSON.stringify(control.authorizations));
    } else if (url.pathname === '/_control/logins') {
      return res.end(JSON.stringify(control.logins));
    } else if (url.pathname === '/_control/auth-time') {
      control.authTimeAgo = Number(url.searchParams.get('ago') || 0);
    } else if (url.pathname === '/_control/userinfo-sub') {
      control.userinfoSub = url.searchParams.get('sub');
    } else if (url.pathname === '/_control/interactive') {
      control.interactive = url.searchParams.get('on') === '1';
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
