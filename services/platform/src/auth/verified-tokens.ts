import type { AuthContext } from './token-verifier.js';

/**
 * Tokens whose signature and claims have been verified, by the exact token string, with what they said:
 * a request with a token seen before costs a map lookup instead of an ECDSA verification. At most
 * `maxEntries` are kept (the least recently used goes first). An entry is never returned at or after its
 * token's `exp`; it is dropped when next looked up then, or when it is the least recently used.
 */
export class VerifiedTokens {
  /** Map keeps insertion order: taking an entry out and back in makes it the most recently used. */
  private readonly entries = new Map<string, { caller: AuthContext; exp: number }>();

  /** `maxEntries` 0 keeps nothing. */
  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new TypeError(`maxEntries must be a whole number >= 0, got ${maxEntries}`);
  }

  /** The caller a token verified as, while `nowSeconds` is before its `exp`. */
  get(token: string, nowSeconds: number): AuthContext | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    this.entries.delete(token);
    if (nowSeconds >= entry.exp) return undefined;
    this.entries.set(token, entry);
    return entry.caller;
  }

  /** Remembers a verified token until `exp` (seconds since the epoch, the token's own claim). */
  set(token: string, caller: AuthContext, exp: number): void {
    if (this.maxEntries === 0) return;
    this.entries.delete(token);
    this.entries.set(token, { caller, exp });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  get size(): number {
    return this.entries.size;
  }
}
