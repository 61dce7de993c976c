import { AppError } from '@cdc-outbox-saga/platform';

/**
 * The names a request carries (application, profiles, label) and the search path from the settings.
 * Files are only ever looked up as entries of a Git tree, never on the filesystem, so no name can reach
 * outside the repository's search path; the rules here keep them to what a file name or Git ref can
 * sensibly be, so a mistyped or hostile request gets a clear 400 instead of an empty answer.
 */

export const MAX_NAME_LENGTH = 200;

/** Letters, digits, dot, underscore, hyphen: what an application, a profile or one part of a ref may hold. */
const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

/** How Spring Cloud Config writes a `/` inside a label in a URL path (`feature(_)x` for `feature/x`). */
export const LABEL_SLASH = '(_)';

function invalid(what: string, value: string, why: string): AppError {
  return new AppError('INVALID_NAME', `${what} ${JSON.stringify(value)} is invalid: ${why}`, { status: 400 });
}

/** Why `part` cannot be a name (or one segment of a label or search path), or undefined when it can. */
function problemWith(part: string): string | undefined {
  if (part === '') return 'it is empty';
  if (!NAME_PATTERN.test(part)) return 'only letters, digits, ".", "_" and "-" are allowed';
  if (part.startsWith('.')) return 'it starts with "."';
  if (part.includes('..')) return 'it contains ".."';
  return undefined;
}

function checkLength(what: string, value: string): void {
  if (value.length > MAX_NAME_LENGTH) throw invalid(what, value.slice(0, 40) + '…', `longer than ${MAX_NAME_LENGTH} characters`);
}

/** An application name as it comes from the URL path (already percent-decoded); throws a 400 AppError. */
export function parseApplication(value: string): string {
  checkLength('application', value);
  const problem = problemWith(value);
  if (problem) throw invalid('application', value, problem);
  return value;
}

/** A profile list (`test` or `test,mysql`) as it comes from the URL path; throws a 400 AppError. */
export function parseProfiles(value: string): string[] {
  checkLength('profile', value);
  const profiles = value.split(',');
  for (const profile of profiles) {
    const problem = problemWith(profile);
    if (problem) throw invalid('profile', value, problem);
  }
  return profiles;
}

/**
 * A label (branch, tag or commit id) as it comes from the URL path, `(_)` turned into `/`. A `/` that
 * arrived percent-encoded is refused: Spring clients write `(_)`. Each `/`-separated part follows the
 * name rules, and Git's own rule that a ref never ends in `.lock` or `.` holds too.
 */
export function parseLabel(value: string): string {
  checkLength('label', value);
  if (value.includes('/')) throw invalid('label', value, 'a "/" in a label is written "(_)"');
  const label = value.replaceAll(LABEL_SLASH, '/');
  for (const part of label.split('/')) {
    const problem = problemWith(part);
    if (problem) throw invalid('label', value, problem);
    if (part.endsWith('.lock') || part.endsWith('.')) throw invalid('label', value, 'a ref part never ends in ".lock" or "."');
  }
  return label;
}

/**
 * The configured folder inside the repository (`config-repo`, `conf/services`; empty for the root),
 * without leading or trailing slashes. Throws for anything that is not a plain relative path.
 */
export function parseSearchPath(value: string): string {
  const trimmed = value.trim().replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  checkLength('search path', trimmed);
  for (const part of trimmed.split('/')) {
    const problem = problemWith(part);
    if (problem) throw invalid('search path', value, problem);
  }
  return trimmed;
}

/** The extensions the file endpoints answer in. */
export const OUTPUT_EXTENSIONS = ['yml', 'yaml', 'properties', 'json'] as const;
export type OutputExtension = (typeof OUTPUT_EXTENSIONS)[number];

const FILE_REQUEST = /^(.+)\.(yml|yaml|properties|json)$/;

/**
 * Splits a file-endpoint name (`order-test.yml`) into application, profiles and extension, or returns
 * undefined when the name has no such shape. Like Spring's `{name}-{profiles}.yml` mapping it splits at
 * the last `-` that has something on both sides: `order-service-test.yml` is application
 * `order-service`, profile `test`, so application names may hold hyphens but profile names here may not
 * (a hyphenated profile is reachable through the JSON endpoint, `/{application}/{profile}`).
 * The parts are validated as in the JSON endpoint; a bad part throws a 400 AppError.
 */
export function parseFileRequest(value: string): { application: string; profiles: string[]; extension: OutputExtension } | undefined {
  const match = FILE_REQUEST.exec(value);
  if (!match) return undefined;
  const stem = match[1]!;
  const extension = match[2] as OutputExtension;
  let cut = stem.lastIndexOf('-');
  while (cut > 0 && cut === stem.length - 1) cut = stem.lastIndexOf('-', cut - 1);
  if (cut <= 0) return undefined;
  return { application: parseApplication(stem.slice(0, cut)), profiles: parseProfiles(stem.slice(cut + 1)), extension };
}

/**
 * Whether a URL path segment ends in a file endpoint's extension: like Spring, such a segment is never
 * taken for a profile (`/order/test.yml` is a file request without a profile, so 404, not profile `test.yml`).
 */
export function looksLikeFileRequest(value: string): boolean {
  return FILE_REQUEST.test(value);
}
