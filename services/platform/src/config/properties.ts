/**
 * Spring's flat property keys (`a.b.c`, `a.list[0].x`) to and from nested objects: the config service answers
 * flat keys per property source, node-config wants nested objects.
 */

type Nested = Record<string, unknown>;

const segment = /([^.[\]]+)|\[(\d+)\]/g;

/** `a.b[2].c` → ['a', 'b', 2, 'c']. */
export function keyPath(key: string): Array<string | number> {
  return [...key.matchAll(segment)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]!));
}

/** Nested objects from flat keys; `[n]` makes arrays. */
export function unflatten(flat: Record<string, unknown>): Nested {
  const root: Nested = {};
  for (const [key, value] of Object.entries(flat)) {
    const path = keyPath(key);
    // A key from a config file must not reach Object's prototype.
    if (path.length === 0 || path.some((part) => part === '__proto__' || part === 'constructor' || part === 'prototype')) continue;
    let node: Nested | unknown[] = root;
    path.forEach((part, i) => {
      const last = i === path.length - 1;
      const container = node as Record<string | number, unknown>;
      if (last) {
        container[part] = value;
        return;
      }
      const next = path[i + 1];
      if (typeof container[part] !== 'object' || container[part] === null) container[part] = typeof next === 'number' ? [] : {};
      node = container[part] as Nested | unknown[];
    });
  }
  return root;
}

/** Flat keys from nested objects (arrays as `[n]`), the inverse of `unflatten`. */
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
 * One flat map from property sources listed most specific first, as Spring reads them: a key takes the
 * value of the most specific source that has it, and a list comes whole from the most specific source
 * that has any element of it (a shorter list there does not keep the tail of a longer one below).
 */
export function mergeSources(sources: Array<{ source: Record<string, unknown> }>): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  const listOwner = new Map<string, number>();
  sources.forEach(({ source }, rank) => {
    for (const [key, value] of Object.entries(source)) {
      if (key in merged) continue;
      const list = key.match(/^(.*?)\[\d+\]/)?.[1];
      if (list !== undefined) {
        const owner = listOwner.get(list);
        if (owner !== undefined && owner !== rank) continue;
        listOwner.set(list, rank);
      }
      merged[key] = value;
    }
  });
  return merged;
}
