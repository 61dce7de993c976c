import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import { z } from 'zod';
import { AppError } from '../errors.js';

/** One problem with a request body, as a VALIDATION_FAILED answer lists it in `details`. */
export interface InputProblem {
  /** Where, as zod's issue paths are joined: `items.0.quantity`; "" for the body itself. */
  path: string;
  message: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** What `checkJsonText` found in the body's source text, for `parseBody` to report. */
    jsonTextProblems?: InputProblem[];
  }
}

/** Cc (controls: NUL, BEL, ESC, DEL, C1, tabs, newlines), Cf (bidi overrides, zero-width, BOM, soft hyphen), line and paragraph separators. */
const INVISIBLE_OR_CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** Node 20 has `String.prototype.isWellFormed`; the project's TypeScript lib (ES2023) does not declare it. */
const isWellFormed = (value: string): boolean => (value as string & { isWellFormed(): boolean }).isWellFormed();

/**
 * A name or any other free text a person reads: well-formed Unicode (a lone surrogate would be stored as
 * U+FFFD, so the row would differ from what was sent), no control or format characters anywhere (no
 * terminal escapes, no bidi tricks, no invisible text), trimmed, not empty, and at most `maxCharacters`
 * code points: a VARCHAR(n) of utf8mb4 holds n code points, whatever their size in UTF-16.
 * The parsed value is the trimmed text: store and echo that value, not the input.
 */
export function textSchema(maxCharacters: number) {
  return z
    .string()
    .refine(isWellFormed, { message: 'must be well-formed Unicode (no lone surrogates)', abort: true })
    .refine((value) => !INVISIBLE_OR_CONTROL.test(value), {
      message: 'must not contain control, format or line-break characters',
      abort: true,
    })
    .trim()
    .refine((value) => value.length > 0, { message: 'must not be empty or only spaces', abort: true })
    .refine((value) => codePoints(value) <= maxCharacters, { message: `must be at most ${maxCharacters} characters` });
}

function codePoints(value: string): number {
  let count = 0;
  for (let i = 0; i < value.length; i++, count++) {
    // A well-formed pair is one code point (the schema has refused lone surrogates by now).
    if (value.charCodeAt(i) >= 0xd800 && value.charCodeAt(i) <= 0xdbff) i++;
  }
  return count;
}

/** The `details` message of a number written with a fraction or an exponent (`5.0`, `1e2`, `1e-400`). */
export const NOT_AN_INTEGER_LITERAL = 'must be an integer written without a fraction or exponent';
/** The `details` message of an integer JSON.parse would round (beyond Number.MAX_SAFE_INTEGER). */
export const UNSAFE_INTEGER = `must be an integer between -${Number.MAX_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}`;
/** The `details` message of a key written twice in one object. */
export const DUPLICATE_KEY = 'must appear only once';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const isDigit = (byte: number) => byte >= 0x30 && byte <= 0x39;
const inNumber = (byte: number) => isDigit(byte) || byte === MINUS || byte === PLUS || byte === DOT || byte === LOWER_E || byte === UPPER_E;

interface Frame {
  array: boolean;
  /** Arrays: the index of the element being read. */
  index: number;
  /** Objects: the key of the member being read, and whether the next string is a key. */
  key: string;
  awaitingKey: boolean;
  keys: Set<string> | undefined;
}

const utf8 = new TextDecoder();

/** A key's text as JSON.parse reads it (escapes decoded), or as written when it does not parse. */
function keyText(text: Uint8Array, start: number, end: number): string {
  const raw = utf8.decode(text.subarray(start, end));
  try {
    return String(JSON.parse(raw));
  } catch {
    return raw.slice(1, -1);
  }
}

const pathOf = (frames: Frame[]) => frames.map((frame) => (frame.array ? String(frame.index) : frame.key)).join('.');

/**
 * What JSON.parse hides, found in a body's UTF-8 source text: number literals with a fraction or an
 * exponent (`5.0` parses as 5, `1e-400` as 0, `1e2` as 100: every number of this API is an integer and must
 * be written as one), integers beyond Number.MAX_SAFE_INTEGER (parsed rounded), and a key repeated in one
 * object (JSON.parse keeps the last silently). At most `limit` problems, in text order.
 *
 * A tokenizer, not a parser: on text that is not JSON its answer means nothing, and JSON.parse refuses the
 * text anyway; it reads each byte once and never throws. Structural characters are ASCII, and UTF-8 never
 * uses ASCII bytes inside a multi-byte character, so the bytes can be scanned as they are.
 */
export function jsonTextProblems(text: Uint8Array, limit = 20): InputProblem[] {
  const problems: InputProblem[] = [];
  const frames: Frame[] = [];
  const n = text.length;
  let i = 0;
  while (i < n && problems.length < limit) {
    const byte = text[i]!;
    if (byte === QUOTE) {
      const start = i++;
      while (i < n && text[i] !== QUOTE) i += text[i] === BACKSLASH ? 2 : 1;
      i++;
      const top = frames.at(-1);
      if (top && !top.array && top.awaitingKey) {
        top.key = keyText(text, start, Math.min(i, n));
        top.awaitingKey = false;
        if (top.keys!.has(top.key)) problems.push({ path: pathOf(frames), message: DUPLICATE_KEY });
        top.keys!.add(top.key);
      }
      continue;
    }
    if (byte === MINUS || isDigit(byte)) {
      const start = i;
      let integral = true;
      while (i < n && inNumber(text[i]!)) {
        if (text[i] === DOT || text[i] === LOWER_E || text[i] === UPPER_E) integral = false;
        i++;
      }
      if (!integral) {
        problems.push({ path: pathOf(frames), message: NOT_AN_INTEGER_LITERAL });
      } else if (i - start > 15 && !Number.isSafeInteger(Number(utf8.decode(text.subarray(start, i))))) {
        // 15 characters (with a sign) are always safe. Above, the parsed value decides exactly: every integer up
        // to 2^53 - 1 is exact as a double, and anything larger parses to 2^53 or more.
        problems.push({ path: pathOf(frames), message: UNSAFE_INTEGER });
      }
      continue;
    }
    switch (byte) {
      case 0x7b: // {
        frames.push({ array: false, index: 0, key: '', awaitingKey: true, keys: new Set() });
        break;
      case 0x5b: // [
        frames.push({ array: true, index: 0, key: '', awaitingKey: false, keys: undefined });
        break;
      case 0x7d: // }
      case 0x5d: // ]
        frames.pop();
        break;
      case 0x2c: {
        // ,
        const top = frames.at(-1);
        if (top?.array) top.index++;
        else if (top) top.awaitingKey = true;
        break;
      }
      default:
      // Whitespace, ':', true/false/null, and whatever makes the text invalid.
    }
    i++;
  }
  return problems;
}

/**
 * express.json's `verify` hook: refuses a body that is not UTF-8 (RFC 8259 asks UTF-8 of JSON exchanged
 * between systems, and invalid bytes would be read as U+FFFD: stored other than sent) and keeps what
 * `jsonTextProblems` finds for `parseBody`. It runs before JSON.parse: a body that is not JSON is still
 * answered MALFORMED_JSON, as the problems are reported only for a body that parsed.
 */
export function checkJsonText(req: IncomingMessage, _res: unknown, body: Buffer, encoding: string): void {
  if (encoding.toLowerCase() !== 'utf-8') {
    throw new AppError('UNSUPPORTED_ENCODING', 'send the JSON body in UTF-8', { status: 415 });
  }
  if (!isUtf8(body)) {
    throw new AppError('MALFORMED_JSON', 'the request body is not valid UTF-8', { status: 400 });
  }
  (req as Request).jsonTextProblems = jsonTextProblems(body);
}
