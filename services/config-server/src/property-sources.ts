import { parseAllDocuments, stringify } from 'yaml';

/**
 * What Spring Cloud Config Server does with the files of one commit: which files answer a request and in
 * which order, how each is read into flat `a.b[0].c` keys, and how the sources are merged back into one
 * document for the `.yml`/`.properties`/`.json` endpoints. Nothing here touches Git or the filesystem.
 */

// Merging sources and nesting flat keys is shared with the services, which read these answers.
import type { FlatSource, Scalar } from '@cdc-outbox-saga/platform';

export { keySegments, mergeSources, unflatten, type FlatSource, type Scalar } from '@cdc-outbox-saga/platform';

/** A file that cannot be read as configuration; the caller adds which file at which commit. */
export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
}

/**
 * Config file extensions, in their precedence for one name: `.properties` over YAML as in Spring Boot,
 * then `.yml` over `.yaml`, and `.json` (not a Spring Boot format) last.
 */
export const SOURCE_EXTENSIONS = ['properties', 'yml', 'yaml', 'json'] as const;

/**
 * The files of the search path that answer `{application}/{profiles}`, most specific first, as Spring
 * orders them: `{application}-{profile}` for each profile from the last to the first, `{application}`,
 * then `application-{profile}` the same way, then `application`. Only names in `available` are listed, each
 * once (asking for application `application` would otherwise list its files twice).
 */
export function fileOrder(application: string, profiles: readonly string[], available: { has(name: string): boolean }): string[] {
  const reversed = [...profiles].reverse();
  const stems = [
    ...reversed.map((profile) => `${application}-${profile}`),
    application,
    ...reversed.map((profile) => `application-${profile}`),
    'application',
  ];
  const files: string[] = [];
  for (const stem of new Set(stems)) {
    for (const extension of SOURCE_EXTENSIONS) {
      const file = `${stem}.${extension}`;
      if (available.has(file)) files.push(file);
    }
  }
  return files;
}

/** One document of a config file (a `.properties` or `.json` file has one; a YAML file may have several). */
export interface ParsedDocument {
  /** Its position in the file, from 0. */
  index: number;
  source: FlatSource;
  /**
   * Whether the document applies to a request for these profiles: a document with
   * `spring.config.activate.on-profile` applies only when that matches, one with
   * `spring.config.activate.on-cloud-platform` never (this server runs on no cloud platform), any other always.
   */
  appliesTo(profiles: readonly string[]): boolean;
}

export interface ParsedFile {
  /** Its documents in file order, empty ones left out (Spring Boot skips them too). */
  documents: ParsedDocument[];
  /** How many documents the file holds, empty ones included: more than one names each `(document #n)`. */
  documentCount: number;
}

/** Reads a config file's text by its extension; throws ConfigFileError when it cannot be. */
export function parseConfigFile(fileName: string, text: string): ParsedFile {
  // A byte-order mark is not content, and would otherwise end up in the first key.
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const extension = fileName.slice(fileName.lastIndexOf('.') + 1);
  if (extension === 'properties') return single(parseProperties(body));
  if (extension === 'json') {
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch (error) {
      throw new ConfigFileError(`not valid JSON: ${(error as Error).message}`);
    }
    return single(flatten(value));
  }
  if (extension === 'yml' || extension === 'yaml') return parseYaml(body);
  throw new ConfigFileError(`".${extension}" is not a config file extension`);
}

function single(source: FlatSource): ParsedFile {
  return { documents: source.size > 0 ? [document(0, source)] : [], documentCount: 1 };
}

const ON_PROFILE = 'spring.config.activate.on-profile';
const ON_CLOUD_PLATFORM = 'spring.config.activate.on-cloud-platform';

function document(index: number, source: FlatSource): ParsedDocument {
  const expressions: ProfileExpression[] = [];
  for (const [key, value] of source) {
    // The value is one string (`test, mysql`) or a list (`on-profile[0]`); either way any entry may match.
    if (key !== ON_PROFILE && !(key.startsWith(`${ON_PROFILE}[`) && /^\[\d+\]$/.test(key.slice(ON_PROFILE.length)))) continue;
    for (const text of String(value ?? '').split(',')) {
      if (text.trim() !== '') expressions.push(parseProfileExpression(text));
    }
  }
  const forCloudPlatform = [...source.keys()].some((key) => key === ON_CLOUD_PLATFORM);
  return {
    index,
    source,
    appliesTo(profiles) {
      if (forCloudPlatform) return false;
      if (expressions.length === 0) return true;
      const active = new Set(profiles);
      return expressions.some((expression) => expression(active));
    },
  };
}

function parseYaml(text: string): ParsedFile {
  // YAML 1.2 (core schema): `yes`/`on` stay strings and there are no timestamps, unlike SnakeYAML's 1.1;
  // a Spring client converts "yes" to a boolean where it binds one anyway. `<<` merge keys are kept on
  // because Spring configs use them. Duplicate keys are an error, as in Spring Boot.
  const documents = parseAllDocuments(text, { merge: true, uniqueKeys: true });
  const parsed: ParsedDocument[] = [];
  let index = 0;
  for (const doc of documents) {
    const error = doc.errors[0];
    // The message's first line names the problem, line and column; the rest quotes the text.
    if (error) throw new ConfigFileError(`not valid YAML: ${error.message.split('\n')[0]!.replace(/:$/, '')}`);
    let value: unknown;
    try {
      // Maps keep keys as they are (numbers, booleans), and a key `__proto__` stays a plain key.
      value = doc.toJS({ mapAsMap: true, maxAliasCount: 100 });
    } catch (cause) {
      throw new ConfigFileError(`not valid YAML: ${(cause as Error).message}`);
    }
    const source = flatten(value, documents.length > 1 ? `document #${index}` : 'file');
    if (source.size > 0) parsed.push(document(index, source));
    index++;
  }
  return { documents: parsed, documentCount: index };
}

/** A Spring profile expression (`prod`, `!dev`, `prod & (eu | us)`) as a test on the active profiles. */
type ProfileExpression = (active: ReadonlySet<string>) => boolean;

/** Parses Spring's profile expression syntax: names, `!`, `&`, `|` and parentheses; throws ConfigFileError. */
export function parseProfileExpression(text: string): ProfileExpression {
  const tokens = text.match(/[()!&|]|[^\s()!&|]+/g) ?? [];
  let position = 0;
  const fail = (): never => {
    throw new ConfigFileError(`"${ON_PROFILE}: ${text.trim()}" is not a profile expression`);
  };
  const or = (): ProfileExpression => {
    const parts = [and()];
    while (tokens[position] === '|') {
      position++;
      parts.push(and());
    }
    return parts.length === 1 ? parts[0]! : (active) => parts.some((part) => part(active));
  };
  const and = (): ProfileExpression => {
    const parts = [not()];
    while (tokens[position] === '&') {
      position++;
      parts.push(not());
    }
    return parts.length === 1 ? parts[0]! : (active) => parts.every((part) => part(active));
  };
  const not = (): ProfileExpression => {
    const token = tokens[position++];
    if (token === '!') {
      const inner = not();
      return (active) => !inner(active);
    }
    if (token === '(') {
      const inner = or();
      if (tokens[position++] !== ')') fail();
      return inner;
    }
    if (token === undefined || token === ')' || token === '&' || token === '|') return fail();
    return (active) => active.has(token);
  };
  const expression = or();
  if (position !== tokens.length) fail();
  return expression;
}

/**
 * Flattens a parsed document the way Spring's YamlProcessor does: nested maps as `a.b.c`, list items as
 * `a.b[0]` and `a.b[1].c`, a key that starts with `[` joined without a dot (`routes[/api/**]`), a key that
 * is not a string (a number, a boolean) written `[8080]`. An empty list becomes `""` and an empty map
 * leaves no key, as in Spring. Scalars keep their type, null included.
 */
export function flatten(root: unknown, what = 'file'): FlatSource {
  const out: FlatSource = new Map();
  if (root === null || root === undefined) return out;
  if (!entriesOf(root)) throw new ConfigFileError(`the top level of the ${what} is not a mapping`);
  flattenInto(out, root, '');
  return out;
}

function entriesOf(value: unknown): Array<[unknown, unknown]> | undefined {
  if (value instanceof Map) return [...(value as Map<unknown, unknown>).entries()];
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value) && !(value instanceof Date)) {
    return Object.entries(value);
  }
  return undefined;
}

function keyOf(key: unknown): string {
  if (typeof key === 'string') return key;
  if (key === null || typeof key === 'number' || typeof key === 'boolean' || typeof key === 'bigint') return `[${String(key)}]`;
  throw new ConfigFileError('a mapping key is itself a mapping or a list, which a property name cannot be');
}

function flattenInto(out: FlatSource, value: unknown, path: string): void {
  const entries = entriesOf(value);
  if (entries) {
    for (const [rawKey, child] of entries) {
      const key = keyOf(rawKey);
      flattenInto(out, child, path === '' ? key : key.startsWith('[') ? `${path}${key}` : `${path}.${key}`);
    }
    return;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) out.set(path, '');
    value.forEach((item, index) => flattenInto(out, item, `${path}[${index}]`));
    return;
  }
  out.set(path, scalarOf(value));
}

function scalarOf(value: unknown): Scalar {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  // JSON has no Infinity or NaN: YAML's .inf and .nan go out as text.
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

/**
 * Reads a `.properties` file as java.util.Properties does: `key=value`, `key: value` or `key value`,
 * comment lines starting with `#` or `!`, a line ending in an odd number of backslashes continued on the
 * next, and the escapes `\t \n \r \f \uXXXX` (any other escaped character stands for itself). The text is
 * taken as UTF-8. Values are strings; a key given twice keeps its first place and its last value.
 */
export function parseProperties(text: string): FlatSource {
  const out: FlatSource = new Map();
  const lines = text.split(/\r\n|\r|\n/);
  const trimStart = (line: string) => line.replace(/^[ \t\f]+/, '');
  for (let i = 0; i < lines.length;) {
    let line = trimStart(lines[i++]!);
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    while (endsInContinuation(line)) {
      line = line.slice(0, -1);
      if (i >= lines.length) break;
      line += trimStart(lines[i++]!);
    }
    let keyEnd = line.length;
    let valueStart = line.length;
    for (let k = 0; k < line.length; k++) {
      const c = line[k]!;
      if (c === '\\') {
        k++;
        continue;
      }
      if (c === '=' || c === ':' || c === ' ' || c === '\t' || c === '\f') {
        keyEnd = k;
        valueStart = k + 1;
        // After whitespace, one `=` or `:` may still follow as the separator.
        if (c !== '=' && c !== ':') {
          while (valueStart < line.length && ' \t\f'.includes(line[valueStart]!)) valueStart++;
          if (line[valueStart] === '=' || line[valueStart] === ':') valueStart++;
        }
        break;
      }
    }
    while (valueStart < line.length && ' \t\f'.includes(line[valueStart]!)) valueStart++;
    out.set(unescapeProperty(line.slice(0, keyEnd)), unescapeProperty(line.slice(valueStart)));
  }
  return out;
}

function endsInContinuation(line: string): boolean {
  let backslashes = 0;
  for (let i = line.length - 1; i >= 0 && line[i] === '\\'; i--) backslashes++;
  return backslashes % 2 === 1;
}

function unescapeProperty(text: string): string {
  return text.replace(/\\(u([0-9a-fA-F]{4})|u|.|$)/gs, (_match, escaped: string, hex: string | undefined) => {
    if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
    switch (escaped) {
      case 'u':
        throw new ConfigFileError(`malformed \\uxxxx escape in "${text}"`);
      case 't':
        return '\t';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 'f':
        return '\f';
      default:
        return escaped;
    }
  });
}

/** A property source as the JSON endpoint lists it. */
export interface NamedSource {
  name: string;
  source: FlatSource;
}

/**
 * The property sources of the given files (most specific first), each document of a file a source of its
 * own, the later documents of a file first since they override the earlier ones (as in Spring Boot).
 */
export function namedSources(
  files: ReadonlyArray<{ file: string; name: string; parsed: ParsedFile }>,
  profiles: readonly string[],
): NamedSource[] {
  const sources: NamedSource[] = [];
  for (const { name, parsed } of files) {
    for (const doc of [...parsed.documents].reverse()) {
      if (!doc.appliesTo(profiles)) continue;
      sources.push({ name: parsed.documentCount > 1 ? `${name} (document #${doc.index})` : name, source: doc.source });
    }
  }
  return sources;
}

/**
 * A flat source as `.properties` text: one `key=value` line per key, sorted by key, escaped as
 * java.util.Properties writes them (but UTF-8 left as it is). A null value is written empty.
 */
export function renderProperties(flat: FlatSource): string {
  const keys = [...flat.keys()].sort();
  return keys.map((key) => `${escapeProperty(key, true)}=${escapeProperty(String(flat.get(key) ?? ''), false)}\n`).join('');
}

function escapeProperty(text: string, isKey: boolean): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    switch (c) {
      case '\\':
        out += '\\\\';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\f':
        out += '\\f';
        break;
      case '=':
      case ':':
      case '#':
      case '!':
        out += `\\${c}`;
        break;
      case ' ':
        // Spaces end a key; in a value only leading ones would be lost.
        out += isKey || i === 0 ? '\\ ' : ' ';
        break;
      default:
        out += c < ' ' ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c;
    }
  }
  return out;
}

/** A nested document as YAML text (long strings are not folded). */
export function renderYaml(document: Record<string, unknown>): string {
  return stringify(document, { lineWidth: 0 });
}
