// An MCP client built on the official TypeScript SDK 1.x, signing in with the SDK's own OAuth code.
//
//   node ts_sdk_client.mjs <sdk package dir> <MCP URL> '<JSON list of [tool, arguments]>'
//
// The SDK does discovery (RFC 9728, RFC 8414), registration (RFC 7591), PKCE and `resource`
// itself, picking the scope from the 401 challenge. This script supplies what an application
// supplies: an OAuthClientProvider that keeps everything in memory, and a loopback callback
// (RFC 8252 §7.3) on 127.0.0.1. Its redirectToAuthorization does not open a browser; it prints
// `authorize <URL>` on stderr, where the test's scripted user picks it up, signs in and comes
// back to the callback. The script checks `state` and `iss` (RFC 9207) before handing the code
// to the SDK, then retries the call.
//
// stdout: one JSON line per tool call ({"tool", "result"} or {"tool", "error"}), then a summary
// {"done": true, "authorizations": [...], "client": {...}, "scope": "..."}.

import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [sdkDir, mcpUrl, callsJson] = process.argv.slice(2);
const sdk = (path) => import(pathToFileURL(join(sdkDir, "dist", "esm", path)).href);
const { Client } = await sdk("client/index.js");
const { StreamableHTTPClientTransport } = await sdk("client/streamableHttp.js");
const { UnauthorizedError } = await sdk("client/auth.js");

const MAX_SIGN_INS_PER_CALL = 3; // a client must not loop on a server that keeps refusing

// ----- The loopback callback: one pending authorization at a time -----
let pending = null; // { state, resolve, reject }
const callback = createServer((request, response) => {
  const params = new URL(request.url, "http://127.0.0.1").searchParams;
  const done = pending;
  pending = null;
  response.writeHead(200, { "Content-Type": "text/plain" }).end("Signed in; you can close this window.");
  if (!done) return;
  if (params.get("state") !== done.state) return done.reject(new Error("state does not match"));
  if (params.get("error")) return done.reject(new Error(`authorization refused: ${params.get("error")}`));
  done.resolve({ code: params.get("code"), iss: params.get("iss") });
});
await new Promise((resolve) => callback.listen(0, "127.0.0.1", resolve));
const redirectUrl = `http://127.0.0.1:${callback.address().port}/callback`;

// ----- The application's side of OAuth, in memory -----
const store = { client: undefined, tokens: undefined, verifier: undefined, discovery: undefined };
const authorizations = [];
const provider = {
  get redirectUrl() {
    return redirectUrl;
  },
  get clientMetadata() {
    return {
      client_name: "mcp-oauth-demo e2e (TypeScript SDK client)",
      redirect_uris: [redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  },
  state: () => randomBytes(16).toString("base64url"),
  clientInformation: () => store.client,
  saveClientInformation: (info) => {
    store.client = info;
  },
  tokens: () => store.tokens,
  saveTokens: (tokens) => {
    store.tokens = tokens;
  },
  saveCodeVerifier: (verifier) => {
    store.verifier = verifier;
  },
  codeVerifier: () => store.verifier,
  saveDiscoveryState: (state) => {
    store.discovery = state;
  },
  discoveryState: () => store.discovery,
  redirectToAuthorization: (url) => {
    const state = url.searchParams.get("state");
    authorizations.push(url.href);
    pending = { state };
    pending.promise = new Promise((resolve, reject) => Object.assign(pending, { resolve, reject }));
    console.error(`authorize ${url.href}`);
  },
};

async function signedIn() {
  const waiting = pending;
  if (!waiting) throw new Error("the SDK refused without asking for a sign-in");
  const { code, iss } = await waiting.promise;
  const issuer = store.discovery?.authorizationServerMetadata?.issuer;
  if (issuer && iss !== issuer) throw new Error(`iss ${iss} is not the issuer ${issuer} (RFC 9207)`);
  await transport.finishAuth(code);
}

const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
const client = new Client({ name: "mcp-oauth-demo-ts-sdk-e2e", version: "1.0.0" });
await client.connect(transport);

for (const [tool, args] of JSON.parse(callsJson)) {
  let line;
  for (let attempt = 0; ; attempt++) {
    try {
      line = { tool, result: await client.callTool({ name: tool, arguments: args }) };
      break;
    } catch (error) {
      if (error instanceof UnauthorizedError && attempt < MAX_SIGN_INS_PER_CALL) {
        await signedIn();
        continue;
      }
      line = { tool, error: String(error?.message ?? error) };
      break;
    }
  }
  console.log(JSON.stringify(line));
}

console.log(
  JSON.stringify({
    done: true,
    authorizations,
    client: store.client ?? null,
    scope: store.tokens?.scope ?? null,
  }),
);
await client.close();
callback.close();
