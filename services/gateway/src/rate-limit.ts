import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { TokenBucket } from 'limiter';
import { z } from 'zod';
import type { AuthContext } from './auth.js';

/** The limits of every bucket: a burst of `capacity` requests, then `refillPerSecond` on average. */
export const rateLimitSettings = z.object({
  capacity: z.coerce.number().int().min(1),
  refillPerSecond: z.coerce.number().positive(),
});
export type RateLimits = z.infer<typeof rateLimitSettings>;

export interface RateLimitOptions extends RateLimits {
  /**
   * How many proxies in front of the gateway append to `X-Forwarded-For`; the client is the address that
   * many entries from the right. 0 (the default) ignores the header, which any client can write.
   */
  trustedProxyHops?: number;
  /** At most this many keys are tracked; past it the least recently seen is forgotten. 100 000 unless given. */
  maxKeys?: number;
  /** How often buckets that have filled up again are forgotten. 60 s unless given. */
  sweepIntervalMs?: number;
}

/** The middleware, and the handles to change its limits live and to stop its sweeper. */
export interface RateLimiter extends RequestHandler {
  /** New limits for new and existing buckets; what a client already spent stays spent. */
  setLimits(capacity: number, refillPerSecond: number): void;
  /** Whether the caller's bucket has no whole token left now (it is not charged for asking). */
  isExhausted(req: Request): boolean;
  limits(): RateLimits;
  /** How many keys have a bucket right now. */
  trackedKeys(): number;
  /** Stops the sweeper (it is unref'd, so it never holds the process open anyway). */
  close(): void;
}

/** The one policy of this gateway, named as draft-ietf-httpapi-ratelimit-headers names policies. */
const POLICY = 'default';

/** The bucket's key: the verified subject when there is one (one budget across addresses), else the address. */
function keyOf(req: Request & { auth?: AuthContext }, trustedProxyHops: number): string {
  return req.auth ? `sub:${req.auth.subject}` : `ip:${clientAddress(req, trustedProxyHops)}`;
}

function clientAddress(req: Request, trustedProxyHops: number): string {
  const socketAddress = req.socket.remoteAddress ?? 'unknown';
  if (trustedProxyHops === 0) return socketAddress;
  // Node joins repeated X-Forwarded-For headers with ", "; each trusted proxy appended the address it saw.
  const forwarded = (req.headers['x-forwarded-for'] ?? '')
    .toString()
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const chain = [...forwarded, socketAddress];
  return chain[Math.max(0, chain.length - 1 - trustedProxyHops)] ?? socketAddress;
}

function newBucket({ capacity, refillPerSecond }: RateLimits): TokenBucket {
  const bucket = new TokenBucket({ bucketSize: capacity, tokensPerInterval: refillPerSecond, interval: 'second' });
  // limiter's buckets start empty; a client never seen before gets its whole burst.
  bucket.content = capacity;
  return bucket;
}

/** Whole seconds until the bucket holds `tokens` (ceil, so a client waiting that long finds them there). */
function secondsUntil(bucket: TokenBucket, tokens: number): number {
  if (tokens > bucket.bucketSize) return 0;
  return Math.ceil(bucket.getWaitTime(tokens) / 1000);
}

/**
 * Express middleware limiting requests with a token bucket per caller: `sub:<subject>` once `authenticate`
 * has set `req.auth`, else `ip:<address>` of the socket. Every answer carries the draft-10 RateLimit fields;
 * a request with no token left gets 429 JSON `RATE_LIMITED` with `Retry-After`, and goes no further.
 *
 * Headers follow draft-ietf-httpapi-ratelimit-headers-10 (section 3 RateLimit-Policy, section 4 RateLimit):
 * `RateLimit-Policy: "default";q=<capacity>;w=<seconds to refill from empty>` and
 * `RateLimit: "default";r=<whole tokens left>;t=<seconds until the next whole token>`.
 * Not the older RateLimit-Limit/-Remaining/-Reset trio of drafts up to 06.
 */
export function rateLimit(options: RateLimitOptions): RateLimiter {
  let limits = rateLimitSettings.parse(options);
  const trustedProxyHops = z
    .number()
    .int()
    .min(0)
    .parse(options.trustedProxyHops ?? 0);
  const maxKeys = z
    .number()
    .int()
    .min(1)
    .parse(options.maxKeys ?? 100_000);
  // Insertion order is recency order: a key is moved to the end when seen, so the first is the stalest.
  const buckets = new Map<string, TokenBucket>();

  const policyHeader = () => {
    // `w` is an integer number of seconds, at least 1 (draft section 3.1.3).
    const window = Math.max(1, Math.ceil(limits.capacity / limits.refillPerSecond));
    return `"${POLICY}";q=${limits.capacity};w=${window}`;
  };

  const sweep = () => {
    // A bucket that has filled up again is the same as a fresh one: forgetting it changes nothing.
    for (const [key, bucket] of buckets) {
      bucket.drip();
      if (bucket.content >= bucket.bucketSize) buckets.delete(key);
    }
  };
  const sweeper = setInterval(sweep, options.sweepIntervalMs ?? 60_000);
  sweeper.unref();

  const handler = (req: Request, res: Response, next: NextFunction) => {
    const key = keyOf(req, trustedProxyHops);
    let bucket = buckets.get(key);
    if (bucket) {
      buckets.delete(key);
    } else {
      // Bounded memory over perfect accounting: a flood of new keys pushes out the stalest, which restarts full.
      if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value!);
      bucket = newBucket(limits);
    }
    buckets.set(key, bucket);

    const allowed = bucket.tryRemoveTokens(1);
    const remaining = Math.floor(bucket.content);
    res.setHeader('RateLimit-Policy', policyHeader());
    res.setHeader('RateLimit', `"${POLICY}";r=${remaining};t=${secondsUntil(bucket, remaining + 1)}`);
    if (allowed) {
      next();
      return;
    }
    const retryAfter = Math.max(1, secondsUntil(bucket, 1));
    res.setHeader('Retry-After', String(retryAfter));
    res.status(429).json({
      error: { code: 'RATE_LIMITED', message: `too many requests; try again in ${retryAfter} s` },
    });
  };

  return Object.assign(handler, {
    isExhausted(req: Request) {
      const bucket = buckets.get(keyOf(req, trustedProxyHops));
      if (!bucket) return false;
      bucket.drip();
      return bucket.content < 1;
    },
    setLimits(capacity: number, refillPerSecond: number) {
      const next = rateLimitSettings.parse({ capacity, refillPerSecond });
      for (const bucket of buckets.values()) {
        // Credit what dripped in under the old rate, then keep what the client has spent, within the new size.
        bucket.drip();
        const spent = bucket.bucketSize - bucket.content;
        bucket.bucketSize = next.capacity;
        bucket.tokensPerInterval = next.refillPerSecond;
        bucket.content = Math.min(next.capacity, Math.max(0, next.capacity - spent));
      }
      limits = next;
    },
    limits: () => ({ ...limits }),
    trackedKeys: () => buckets.size,
    close: () => clearInterval(sweeper),
  });
}
