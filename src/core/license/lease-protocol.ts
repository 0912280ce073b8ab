// The signed lease exchange. The lease service may run over plain http://, so nothing in it relies on
// the transport: every request is signed by the node's libp2p key over the method, path and body,
// with a fresh nonce and a timestamp (the server refuses stale or replayed requests), and every answer
// is signed by the lease server's own key over the status, the request's nonce and the body (a node
// pins that key in license.serverKey, so nobody in between can forge or replay a lease).
import { randomBytes, sign, type KeyObject } from 'node:crypto';
import { signedBytes } from '../canonical.ts';
import { parseKeyString } from '../crypto/ed25519.ts';
import { verifyByAuthor, type Signer } from '../p2p/signer.ts';
import { verifySignature } from './document.ts';

const REQUEST_DOMAIN = 'chorus-lease-request/1';
const ANSWER_DOMAIN = 'chorus-lease-answer/1';
/** The header carrying the server's signature of an answer. */
export const ANSWER_SIGNATURE_HEADER = 'chorus-lease-signature';
/** How far a request's timestamp may be from the server's clock. */
export const REQUEST_WINDOW_MS = 120_000;
const NONCE = /^[A-Za-z0-9_-]{22}$/;
const FIELDS = ['peerId', 'nonce', 'at', 'signature'] as const;

export interface SignedFields {
  peerId: string;
  nonce: string;
  at: string;
  signature: string;
}

function requestBytes(method: string, path: string, body: Record<string, unknown>): Buffer {
  return signedBytes(REQUEST_DOMAIN, { method, path, body });
}

/** A request body with `fields`, signed by the node for `method path`. */
export function signRequest(
  signer: Signer,
  method: string,
  path: string,
  fields: Record<string, unknown>,
): Record<string, unknown> & SignedFields {
  const body = {
    ...fields,
    peerId: signer.author,
    nonce: randomBytes(16).toString('base64url'),
    at: new Date().toISOString(),
  };
  const signature = Buffer.from(signer.sign(requestBytes(method, path, body))).toString('base64url');
  return { ...body, signature };
}

/** Why a request was refused (the server answers 401 with it). */
export class RequestAuthError extends Error {}

/**
 * Checks a request's signature and freshness; returns the signed fields and the rest of the body.
 * The caller still has to check the nonce was not seen before (within REQUEST_WINDOW_MS).
 */
export function checkRequest(
  method: string,
  path: string,
  raw: unknown,
  now: number,
): { signed: SignedFields; fields: Record<string, unknown> } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RequestAuthError('not a signed request');
  const { signature, ...body } = raw as Record<string, unknown>;
  const [peerId, nonce, at] = [body.peerId, body.nonce, body.at];
  if (
    typeof peerId !== 'string' ||
    typeof nonce !== 'string' ||
    typeof at !== 'string' ||
    typeof signature !== 'string'
  ) {
    throw new RequestAuthError('not a signed request: expected peerId, nonce, at and signature');
  }
  if (!NONCE.test(nonce)) throw new RequestAuthError('the nonce is not 16 random bytes in base64url');
  const time = Date.parse(at);
  if (!Number.isFinite(time) || Math.abs(now - time) > REQUEST_WINDOW_MS) {
    throw new RequestAuthError(`the request is stale or from the future (at ${at.slice(0, 40)}; clocks apart?)`);
  }
  if (!verifyByAuthor(peerId, requestBytes(method, path, body), Buffer.from(signature, 'base64url'))) {
    throw new RequestAuthError('the request is not signed by the peer it names (altered on the way?)');
  }
  const fields = Object.fromEntries(Object.entries(body).filter(([k]) => !(FIELDS as readonly string[]).includes(k)));
  return { signed: { peerId, nonce, at, signature }, fields };
}

function answerBytes(status: number, nonce: string, body: string): Buffer {
  return Buffer.from(`${ANSWER_DOMAIN}\n${status}\n${nonce}\n${body}`, 'utf8');
}

/** The server's signature of an answer to the request that carried `nonce` ('' for unsigned requests). */
export function signAnswer(key: KeyObject, status: number, nonce: string, body: string): string {
  return sign(null, answerBytes(status, nonce, body), key).toString('base64url');
}

/** True when `signature` is `serverKey`'s signature of this answer to the request with `nonce`. */
export function verifyAnswer(
  serverKey: string,
  status: number,
  nonce: string,
  body: string,
  signature: string | null,
): boolean {
  if (!signature || !parseKeyString(serverKey)) return false;
  return verifySignature(serverKey, answerBytes(status, nonce, body), signature);
}
