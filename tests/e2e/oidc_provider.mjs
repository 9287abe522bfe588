// A real OpenID Provider for the tests: node-oidc-provider with its development interactions
// (any login name, any password), one confidential client, keys generated per start.
// Usage: node oidc_provider.mjs <port> <client_id> <client_secret> <redirect_uri> [id_token_alg]
import { generateKeyPair, exportJWK } from "jose";
import Provider from "oidc-provider";

const [port, clientId, clientSecret, redirectUri, alg = "RS256"] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = await generateKeyPair(alg, { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), alg, use: "sig", kid: `k-${alg}` };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      id_token_signed_response_alg: alg,
    },
  ],
  jwks: { keys: [jwk] },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  // The development interactions accept any login; the account's claims follow from its id.
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@idp.example`, email_verified: true, name: `${id} of the IdP` };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
});
provider.proxy = false;
provider.listen(Number(port), "127.0.0.1", () => console.log(`oidc-provider listening on ${issuer}`));
