/**
 * Optional verification of the received ID token (a JWS) against the issuer's keys, with `jose`,
 * as the Rust SDK's `idtoken.rs`: signature by the key its `kid` names, `aud`, `nonce`, `exp`,
 * `iat` not in the future, `iss` when expected.
 * @module
 */

import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, type JWTPayload, jwtVerify } from "jose";

import { ClientError } from "./http.js";

/** The signature algorithms accepted. */
const ALGORITHMS = ["EdDSA", "Ed25519", "ES256", "ES384", "RS256", "PS256"];

/** What the ID token must say, and where the issuer's keys are. */
export interface ExpectedIdToken {
  /** The issuer's JWKS, or the URL to fetch it from. */
  issuerKeys: JSONWebKeySet | string;
  /** The `aud` claim: the app's client id at the issuer. */
  audience: string;
  /** The `nonce` claim: the nonce of the sign-in request. */
  nonce: string;
  /** The `iss` claim, when it is known. */
  issuer?: string;
  /** Clock skew allowed for `exp`, `iat` and `nbf`, seconds (0 by default). */
  leewaySecs?: number;
  /** The time to check against, seconds since the epoch; now by default. */
  now?: number;
}

/** Verifies an ID token; returns its claims, or throws an `IdToken` {@link ClientError}. */
export async function verifyIdToken(token: string, expected: ExpectedIdToken): Promise<JWTPayload> {
  const keys = typeof expected.issuerKeys === "string" ? createRemoteJWKSet(new URL(expected.issuerKeys)) : createLocalJWKSet(expected.issuerKeys);
  const leeway = expected.leewaySecs ?? 0;
  const now = expected.now ?? Math.floor(Date.now() / 1000);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keys, {
      algorithms: ALGORITHMS,
      audience: expected.audience,
      issuer: expected.issuer,
      clockTolerance: leeway,
      currentDate: new Date(now * 1000),
      requiredClaims: ["exp", "iat", "aud", "iss", "sub"],
    }));
  } catch (error) {
    throw new ClientError("IdToken", error instanceof Error ? error.message : String(error));
  }
  if ((payload.iat ?? 0) > now + leeway) throw new ClientError("IdToken", "iat is in the future");
  if (payload.nonce !== expected.nonce) throw new ClientError("IdToken", "the nonce is not the sign-in request's");
  return payload;
}
