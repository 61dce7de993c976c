import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { settings } from '@cdc-outbox-saga/local-stack';

/**
 * The Grafana dashboards of monitoring/grafana, checked against Grafana's dashboard JSON model as its schema
 * states it (grafana/grafana kinds/dashboard/dashboard_kind.cue, the "classic" model that provisioning reads):
 * the fields it requires, their types and ranges. Grafana itself is not on this machine (see README,
 * Monitoring), so this and running every query against Prometheus is how the dashboards are proven.
 */
export const grafanaDir = join(settings.repoRoot, 'monitoring/grafana');

export interface Target {
  refId: string;
  expr: string;
}

export interface Panel {
  id: number;
  type: string;
  title?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  panels?: Panel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  time?: { from: string; to: string };
  panels: Panel[];
}

export interface DashboardFile {
  file: string;
  dashboard: Dashboard;
}

export function dashboardFiles(): DashboardFile[] {
  const dir = join(grafanaDir, 'dashboards');
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Dashboard }));
}

/**
 * The uid of the datasource provisioning declares. The file is YAML and this package has no YAML parser:
 * it is read line by line, and it must declare exactly one datasource, which the caller checks.
 */
export function provisionedDatasourceUids(): string[] {
  const dir = join(grafanaDir, 'provisioning/datasources');
  return readdirSync(dir)
    .filter((file) => /\.ya?ml$/.test(file))
    .flatMap((file) =>
      [...readFileSync(join(dir, file), 'utf8').matchAll(/^\s+uid:\s*['"]?([\w-]+)['"]?\s*$/gm)].map((match) => match[1]!),
    );
}

/** Panel types that ship with Grafana and that these dashboards may use: a typo would render as an error. */
const corePanelTypes = new Set([
  'row',
  'timeseries',
  'stat',
  'bargauge',
  'gauge',
  'table',
  'text',
  'piechart',
  'state-timeline',
  'heatmap',
]);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isUint = (value: unknown, max = 2 ** 32 - 1) => Number.isInteger(value) && (value as number) >= 0 && (value as number) <= max;
const isText = (value: unknown) => typeof value === 'string' && value.length > 0;

function gridPosProblems(where: string, gridPos: unknown): string[] {
  if (!isObject(gridPos)) return [`${where}: gridPos is missing`];
  const { h, w, x, y } = gridPos;
  const problems: string[] = [];
  if (!isUint(h) || (h as number) < 1) problems.push(`${where}: gridPos.h must be an integer > 0`);
  if (!isUint(w) || (w as number) < 1 || (w as number) > 24) problems.push(`${where}: gridPos.w must be 1..24`);
  if (!isUint(x) || (x as number) > 23) problems.push(`${where}: gridPos.x must be 0..23`);
  if (!isUint(y)) problems.push(`${where}: gridPos.y must be an integer >= 0`);
  if (isUint(x) && isUint(w) && (x as number) + (w as number) > 24) problems.push(`${where}: gridPos x + w exceeds the 24 columns`);
  return problems;
}

/** A query panel: its datasource and targets, and what the schema requires of every panel (#Panel). */
function queryPanelProblems(where: string, panel: Record<string, unknown>, datasourceUid: string): string[] {
  const problems: string[] = [];
  if (!isObject(panel.options)) problems.push(`${where}: options must be an object`);
  const fieldConfig = panel.fieldConfig;
  if (!isObject(fieldConfig) || !isObject(fieldConfig.defaults) || !Array.isArray(fieldConfig.overrides)) {
    problems.push(`${where}: fieldConfig needs defaults (object) and overrides (array)`);
  }
  if (!Array.isArray(panel.transformations)) problems.push(`${where}: transformations must be an array`);
  const datasource = panel.datasource;
  if (!isObject(datasource) || datasource.type !== 'prometheus' || datasource.uid !== datasourceUid) {
    problems.push(`${where}: datasource must be {type: prometheus, uid: ${datasourceUid}}, got ${JSON.stringify(datasource)}`);
  }
  const targets = panel.targets;
  if (!Array.isArray(targets) || targets.length === 0) return [...problems, `${where}: no targets`];
  const refIds = new Set<string>();
  for (const [index, target] of targets.entries()) {
    const at = `${where} target ${index}`;
    if (!isObject(target)) {
      problems.push(`${at}: not an object`);
      continue;
    }
    if (!isText(target.refId)) problems.push(`${at}: refId missing`);
    else if (refIds.has(target.refId as string)) problems.push(`${at}: refId ${target.refId} used twice`);
    else refIds.add(target.refId as string);
    if (!isText(target.expr)) problems.push(`${at}: expr missing`);
    if (target.datasource !== undefined && (!isObject(target.datasource) || target.datasource.uid !== datasourceUid)) {
      problems.push(`${at}: its datasource is not ${datasourceUid}`);
    }
  }
  return problems;
}

function panelProblems(where: string, panel: unknown, datasourceUid: string, ids: Set<number>): string[] {
  if (!isObject(panel)) return [`${where}: not an object`];
  const problems: string[] = [];
  const label = `${where} (${String(panel.title ?? panel.id)})`;
  if (!isUint(panel.id)) problems.push(`${label}: id must be an unsigned integer`);
  else if (ids.has(panel.id as number)) problems.push(`${label}: id ${panel.id} is used twice`);
  else ids.add(panel.id as number);
  if (!isText(panel.type)) problems.push(`${label}: type is missing`);
  else if (!corePanelTypes.has(panel.type as string)) problems.push(`${label}: type ${panel.type} is not a core panel`);
  problems.push(...gridPosProblems(label, panel.gridPos));
  if (panel.type === 'row') {
    if (typeof panel.collapsed !== 'boolean') problems.push(`${label}: a row needs collapsed (boolean)`);
    if (!Array.isArray(panel.panels)) return [...problems, `${label}: a row needs panels (array)`];
    // A collapsed row keeps its panels inside it; they are panels of the dashboard all the same.
    for (const [index, inner] of (panel.panels as unknown[]).entries())
      problems.push(...panelProblems(`${label} panel ${index}`, inner, datasourceUid, ids));
    return problems;
  }
  return [...problems, ...queryPanelProblems(label, panel, datasourceUid)];
}

/** Two panels of the top level whose rectangles overlap: Grafana would push one down, not as designed. */
function overlapProblems(panels: Panel[]): string[] {
  const problems: string[] = [];
  panels.forEach((a, i) =>
    panels.slice(i + 1).forEach((b) => {
      const apart =
        a.gridPos.x + a.gridPos.w <= b.gridPos.x ||
        b.gridPos.x + b.gridPos.w <= a.gridPos.x ||
        a.gridPos.y + a.gridPos.h <= b.gridPos.y ||
        b.gridPos.y + b.gridPos.h <= a.gridPos.y;
      if (!apart) problems.push(`panels ${a.id} and ${b.id} overlap`);
    }),
  );
  return problems;
}

/** Everything in `value` that Grafana's dashboard model does not allow; empty when it is a valid dashboard. */
export function dashboardProblems(value: unknown, datasourceUid: string): string[] {
  if (!isObject(value)) return ['not a JSON object'];
  const problems: string[] = [];
  if (!isText(value.uid) || !/^[A-Za-z0-9_-]{1,40}$/.test(value.uid as string)) problems.push('uid must be 1..40 letters, digits, - or _');
  if (!isText(value.title)) problems.push('title is missing');
  if (!isUint(value.schemaVersion, 65535)) problems.push('schemaVersion must be an unsigned 16-bit integer');
  if (value.graphTooltip !== undefined && ![0, 1, 2].includes(value.graphTooltip as number))
    problems.push('graphTooltip must be 0, 1 or 2');
  if (value.editable !== undefined && typeof value.editable !== 'boolean') problems.push('editable must be a boolean');
  if (value.time !== undefined && (!isObject(value.time) || !isText(value.time.from) || !isText(value.time.to)))
    problems.push('time needs from and to');
  if (value.refresh !== undefined && value.refresh !== false && typeof value.refresh !== 'string')
    problems.push('refresh must be a string or false');
  if (value.templating !== undefined && (!isObject(value.templating) || !Array.isArray(value.templating.list ?? [])))
    problems.push('templating.list must be an array');
  if (value.annotations !== undefined && (!isObject(value.annotations) || !Array.isArray(value.annotations.list ?? [])))
    problems.push('annotations.list must be an array');
  for (const [index, link] of (Array.isArray(value.links) ? value.links : []).entries()) {
    const required = ['title', 'type', 'icon', 'tooltip', 'url', 'tags', 'asDropdown', 'targetBlank', 'includeVars', 'keepTime'];
    const missing = isObject(link) ? required.filter((key) => link[key] === undefined) : required;
    if (missing.length > 0) problems.push(`link ${index}: ${missing.join(', ')} missing`);
  }
  if (!Array.isArray(value.panels) || value.panels.length === 0) return [...problems, 'no panels'];
  const ids = new Set<number>();
  for (const [index, panel] of value.panels.entries()) problems.push(...panelProblems(`panel ${index}`, panel, datasourceUid, ids));
  if (problems.length === 0) problems.push(...overlapProblems(value.panels as Panel[]));
  return problems;
}

/** Every query of a dashboard with the panel it belongs to, rows' inner panels included. */
export function panelQueries(dashboard: Dashboard): Array<{ panel: string; refId: string; expr: string }> {
  const all = (panels: Panel[]): Panel[] => panels.flatMap((panel) => [panel, ...all(panel.panels ?? [])]);
  return all(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ panel: `${panel.id} ${panel.title ?? ''}`.trim(), refId: target.refId, expr: target.expr })),
  );
}

/**
 * The PromQL Grafana sends for `expr`: its global variables replaced as Grafana does for an instant query
 * over the dashboard's time range (`$__range` is that range; `$__rate_interval` at least four scrape
 * intervals, here 1m). A variable these dashboards do not define is an error.
 */
export function grafanaExpr(expr: string, dashboard: Dashboard): string {
  const range = /^now-(\d+[smhdw])$/.exec(dashboard.time?.from ?? 'now-1h')?.[1] ?? '1h';
  const values: Record<string, string> = { __rate_interval: '1m', __interval: '15s', __range: range };
  const replaced = expr.replace(/\$\{?(__rate_interval|__interval|__range)\}?/g, (_whole, name: string) => values[name]!);
  const unknown = /\$\{?(\w+)/.exec(replaced);
  if (unknown) throw new Error(`${expr}: variable $${unknown[1]} is not defined by these dashboards`);
  return replaced;
}
