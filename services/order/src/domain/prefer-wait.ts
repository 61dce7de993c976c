/**
 * The `wait` preference of an RFC 7240 `Prefer` header, in seconds, capped at `maxSeconds`; undefined
 * when the client did not ask to wait (or asked in a form that is not a non-negative integer, which
 * RFC 7240 says to ignore).
 */
export function preferredWaitSeconds(header: string | undefined, maxSeconds: number): number | undefined {
  if (!header) return undefined;
  for (const preference of header.split(',')) {
    const [name, value] = preference
      .split(';')[0]!
      .split('=')
      .map((part) => part.trim().replace(/^"|"$/g, ''));
    if (name?.toLowerCase() !== 'wait' || value === undefined || !/^\d{1,9}$/.test(value)) continue;
    return Math.min(Number(value), maxSeconds);
  }
  return undefined;
}
