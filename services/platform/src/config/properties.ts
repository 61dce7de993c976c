/**
 * Spring's flat property keys (`a.b.c`, `a.list[0].x`) to and from nested objects: the config service answers
 * flat keys per property source and merges them for its file endpoints; the services merge and nest the
 * same answers into a node-config layer. One implementation serves both.
 */

/** A property value: YAML and JSON scalars keep their type, `.properties` values are strings. */
export type Scalar = string | number | boolean | null;
/** Dotted keys to values, in the order the file gave them. */
export type FlatSource = Map<string, Scalar>;

/**
 * Flat keys of a nested settings object (arrays as `[n]`), to compare two versions of a service's settings
 * key by key; an empty list or map keeps a key of its own, so emptying one counts as a change.
 */
export function flatten(value: unknown, prefix = '', into: Record<string, unknown> = {}): Record<string, unknown> {
  if (Array.isArray(value)) {
    if (value.length === 0 && prefix) into[prefix] = [];
    value.forEach((item, i) => flatten(item, `${prefix}[${i}]`, into));
  } else if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0 && prefix) into[prefix] = {};
    for (const [key, item] of entries) flatten(item, prefix ? `${prefix}.${key}` : key, into);
  } else if (prefix) {
    into[prefix] = value;
  }
  return into;
}

/**
 * Merges flat sources given most specific first into one. A more specific source's key replaces the same
 * key, anything nested under it and a plain value above it (`a=1` then `a.b=2` gives `a.b=2`); a list it
 * sets replaces the whole list of the less specific ones, as Spring Boot binds lists (without this,
 * `[1, 2, 3]` overridden by `[9]` would come out `[9, 2, 3]`). Keys keep the place they first had.
 */
export function mergeSources(mostSpecificFirst: readonly FlatSource[]): FlatSource {
  const merged: FlatSource = new Map();
  for (const source of [...mostSpecificFirst].reverse()) {
    const listRoots = new Set<string>();
    for (const key of source.keys()) {
      for (const [prefix, beforeIndex] of prefixesOf(key)) if (beforeIndex) listRoots.add(prefix);
    }
    for (const key of [...merged.keys()]) {
      if (source.has(key)) continue;
      for (const [prefix, beforeIndex] of prefixesOf(key)) {
        if (source.has(prefix) || (beforeIndex && listRoots.has(prefix))) {
          merged.delete(key);
          break;
        }
      }
    }
    for (const [key, value] of source) {
      for (const [prefix] of prefixesOf(key)) merged.delete(prefix);
      merged.set(key, value);
    }
  }
  return merged;
}

/**
 * The keys a flat key is nested under (`a.b[0].c` → `a`, `a.b`, `a.b[0]`), each with whether a list
 * index follows it. Brackets are skipped whole, so a dot inside `[x.y]` starts no prefix.
 */
function prefixesOf(key: string): Array<[string, boolean]> {
  const prefixes: Array<[string, boolean]> = [];
  for (let i = 1; i < key.length; i++) {
    const c = key[i];
    if (c === '.') prefixes.push([key.slice(0, i), false]);
    else if (c === '[') {
      const close = key.indexOf(']', i);
      if (close < 0) break;
      prefixes.push([key.slice(0, i), /^\d+$/.test(key.slice(i + 1, close))]);
      i = close;
    }
  }
  return prefixes;
}

type Segment = string | number;

/**
 * The path of a flat key: `a.b[0].c` → `a`, `b`, 0, `c`. A bracket holding anything but digits is a map
 * key and keeps its brackets (`routes[/api/**]` → `routes`, `[/api/**]`), so flattening the nested
 * document again gives the same key.
 */
export function keySegments(key: string): Segment[] {
  const segments: Segment[] = [];
  let i = 0;
  if (key === '') return [''];
  while (i < key.length) {
    if (key[i] === '[') {
      const close = key.indexOf(']', i);
      if (close < 0) {
        segments.push(key.slice(i));
        break;
      }
      const inner = key.slice(i + 1, close);
      segments.push(/^\d{1,9}$/.test(inner) ? Number(inner) : key.slice(i, close + 1));
      i = close + 1;
      if (key[i] === '.') {
        i++;
        if (i === key.length) segments.push('');
      }
      continue;
    }
    let end = i;
    while (end < key.length && key[end] !== '.' && key[end] !== '[') end++;
    segments.push(key.slice(i, end));
    i = end;
    if (key[i] === '.') {
      i++;
      if (i === key.length) segments.push('');
    }
  }
  return segments;
}

class Branch {
  readonly children = new Map<Segment, Branch | Scalar>();
}

/**
 * Turns flat keys back into a nested document: `a.b[0].c` into `{a: {b: [{c}]}}`. Indices that run
 * 0, 1, 2… make a list; any other set of indices (or indices mixed with names) makes a map whose index
 * keys are written `[n]`, so that nothing is lost and flattening it again gives the same keys. When a key
 * is both a value and a parent of others, the one set later wins.
 */
export function unflatten(flat: FlatSource): Record<string, unknown> {
  const root = new Branch();
  for (const [key, value] of flat) {
    const segments = keySegments(key);
    let branch = root;
    for (const segment of segments.slice(0, -1)) {
      let child = branch.children.get(segment);
      if (!(child instanceof Branch)) {
        child = new Branch();
        branch.children.set(segment, child);
      }
      branch = child;
    }
    branch.children.set(segments[segments.length - 1]!, value);
  }
  const document = finish(root);
  return Array.isArray(document) ? asMap(root) : document;
}

function finish(branch: Branch): unknown[] | Record<string, unknown> {
  const keys = [...branch.children.keys()];
  if (keys.length > 0 && keys.every((key) => typeof key === 'number')) {
    const indices = (keys as number[]).sort((a, b) => a - b);
    if (indices.every((index, position) => index === position)) return indices.map((index) => valueOf(branch.children.get(index)!));
  }
  return asMap(branch);
}

function asMap(branch: Branch): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, child] of branch.children) {
    // defineProperty: a key `__proto__` becomes a plain key, never the object's prototype.
    Object.defineProperty(out, typeof key === 'number' ? `[${key}]` : key, {
      value: valueOf(child),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function valueOf(child: Branch | Scalar): unknown {
  return child instanceof Branch ? finish(child) : child;
}
