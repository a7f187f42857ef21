// A real OpenID Connect provider (panva's oidc-provider) for the whoknows test suite.
//
// It stands in for an enterprise IdP (Azure AD / Okta / Keycloak): clients get access
// tokens with the client_credentials grant, tokens for the API resource are RS256 JWTs
// signed with a key generated at start-up and published at the provider's jwks_uri.
//
// Configuration (command-line flags win over environment variables):
//   --port N              OIDC_PORT              port on 127.0.0.1; 0 (default) picks a free one
//   --resource URL        OIDC_RESOURCES         resource indicator(s) / JWT audience(s); the flag may be
//                                                repeated, the variable is space-separated; the first one is
//                                                used when a token request names none
//                                                (default https://whoknows.test/api)
//   --scopes "a b c"      OIDC_SCOPES            API scopes (default "whoknows.read whoknows.write whoknows.admin")
//   --clients JSON        OIDC_CLIENTS           JSON array of clients (see DEFAULT_CLIENTS below)
//   --ttl SECONDS         OIDC_ACCESS_TOKEN_TTL  access token lifetime (default 300)
//
// Once listening, exactly one JSON line is written to stdout:
//   {"issuer": "http://127.0.0.1:<port>", "port": <port>}
// Everything else (oidc-provider notices, errors) goes to stderr. SIGTERM/SIGINT stop it.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

// oidc-provider prints its notices with console.info (stdout); keep stdout for the JSON line.
console.info = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);

const DEFAULT_RESOURCE = 'https://whoknows.test/api';
const DEFAULT_SCOPES = 'whoknows.read whoknows.write whoknows.admin';
const DEFAULT_CLIENTS = [
  {
    client_id: 'crm-app',
    client_secret: 'crm-secret',
    roles: ['experts.read'],
    audience_group: 'internal',
  },
  {
    client_id: 'community-app',
    client_secret: 'community-secret',
    roles: ['experts.read'],
    audience_group: 'external',
  },
];

function fail(message) {
  console.error(`provider.mjs: ${message}`);
  process.exit(2);
}

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    resource: { type: 'string', multiple: true },
    scopes: { type: 'string' },
    clients: { type: 'string' },
    ttl: { type: 'string' },
  },
  strict: true,
});

const port = Number(args.port ?? process.env.OIDC_PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port ${args.port ?? process.env.OIDC_PORT}`);

const resources = args.resource?.length
  ? args.resource
  : (process.env.OIDC_RESOURCES || DEFAULT_RESOURCE).split(/\s+/).filter(Boolean);
if (!resources.length) fail('no resource indicator configured');

const apiScopes = (args.scopes ?? process.env.OIDC_SCOPES ?? DEFAULT_SCOPES).split(/\s+/).filter(Boolean);

const accessTokenTTL = Number(args.ttl ?? process.env.OIDC_ACCESS_TOKEN_TTL ?? 300);
if (!Number.isInteger(accessTokenTTL) || accessTokenTTL <= 0) fail('access token TTL must be a positive integer');

let clientsInput;
try {
  const raw = args.clients ?? process.env.OIDC_CLIENTS;
  clientsInput = raw ? JSON.parse(raw) : DEFAULT_CLIENTS;
} catch (err) {
  fail(`clients must be a JSON array: ${err.message}`);
}
if (!Array.isArray(clientsInput) || !clientsInput.length) fail('clients must be a non-empty JSON array');

const clients = clientsInput.map((c) => {
  if (!c.client_id || !c.client_secret) fail(`client needs client_id and client_secret: ${JSON.stringify(c)}`);
  return {
    client_id: String(c.client_id),
    client_secret: String(c.client_secret),
    // An authorization-code client (a web page signing users in) names its grants and
    // redirect URIs; the default stays a client_credentials-only API client.
    grant_types: c.grant_types ?? ['client_credentials'],
    response_types: c.grant_types?.includes('authorization_code') ? ['code'] : [],
    redirect_uris: c.redirect_uris ?? [],
    token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_basic',
    // Optional allow-list of API scopes; without it a client may ask for any of them.
    ...(c.scope ? { scope: String(c.scope) } : {}),
    roles: c.roles ?? [],
    ...(c.audience_group !== undefined && c.audience_group !== null
      ? { audience_group: String(c.audience_group) } : {}),
  };
});

// The provider's own signing key, new at every start (like a real IdP's, it is only
// known to relying parties through the jwks_uri).
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = {
  ...privateKey.export({ format: 'jwk' }),
  kid: crypto.randomBytes(12).toString('base64url'),
  use: 'sig',
  alg: 'RS256',
};

function resourceServer(client) {
  // Client scope metadata (if any) narrows what the client may be granted.
  const allowed = client?.scope ? new Set(client.scope.split(' ')) : null;
  const scope = apiScopes.filter((s) => !allowed || allowed.has(s)).join(' ');
  return {
    scope,
    accessTokenTTL,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}

const server = http.createServer();

server.listen(port, '127.0.0.1', () => {
  const actualPort = server.address().port;
  const issuer = `http://127.0.0.1:${actualPort}`;

  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signingJwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    // API scopes are also listed here so that a client's `scope` allow-list validates.
    scopes: ['openid', 'offline_access', 'email', ...apiScopes],
    // A signed-in user's e-mail: the login name when it is one (`priya@corp.example`),
    // verified, in the ID token when the `email` scope is asked for (the intranet page
    // finds the person by their directory e-mail).
    findAccount(ctx, id) {
      return {
        accountId: id,
        claims: () => (id.includes('@') ? { sub: id, email: id, email_verified: true } : { sub: id }),
      };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    conformIdTokenClaims: false,
    extraClientMetadata: {
      properties: ['roles', 'audience_group'],
      validator(ctx, key, value) {
        if (key === 'roles' && value !== undefined
          && !(Array.isArray(value) && value.every((r) => typeof r === 'string'))) {
          throw new errors.InvalidClientMetadata('roles must be an array of strings');
        }
        if (key === 'audience_group' && value !== undefined && typeof value !== 'string') {
          throw new errors.InvalidClientMetadata('audience_group must be a string');
        }
      },
    },
    features: {
      // the built-in login and consent pages (any login name, any password), only when
      // some client signs users in with the authorization code flow
      devInteractions: { enabled: clients.some((c) => c.grant_types.includes('authorization_code')) },
      introspection: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A client_credentials request without `resource` gets a token for the first API.
        defaultResource(ctx, client, oneOf) {
          if (oneOf) return oneOf;
          return resources[0];
        },
        getResourceServerInfo(ctx, resourceIndicator, client) {
          if (!resources.includes(resourceIndicator)) {
            throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          }
          return resourceServer(client);
        },
      },
    },
    // Custom claims, as an enterprise IdP adds app roles / groups to the access token.
    extraTokenClaims(ctx, token) {
      const client = ctx?.oidc?.client;
      if (!client || client.clientId !== token.clientId) return undefined;
      const claims = { roles: client.roles ?? [] };
      if (client.audience_group !== undefined) claims.audience_group = client.audience_group;
      return claims;
    },
    ttl: {
      AccessToken: accessTokenTTL,
      ClientCredentials: accessTokenTTL,
    },
  });

  provider.on('server_error', (ctx, err) => {
    console.error('oidc-provider server_error:', err);
  });

  server.on('request', provider.callback());

  process.stdout.write(`${JSON.stringify({ issuer, port: actualPort })}\n`);
});

server.on('error', (err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));

// Nothing is persisted, so a signal can end the process at once.
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
