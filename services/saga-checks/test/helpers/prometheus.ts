import { prometheusUrl } from '@cdc-outbox-saga/local-stack';

export interface Target {
  labels: { job: string; instance: string };
  health: 'up' | 'down' | 'unknown';
  scrapeUrl: string;
}

/** Prometheus' active targets, from its HTTP API. */
export async function activeTargets(): Promise<Target[]> {
  const response = await fetch(`${prometheusUrl}/api/v1/targets?state=active`);
  const body = (await response.json()) as { data: { activeTargets: Target[] } };
  return body.data.activeTargets;
}

/** An instant PromQL query; the result vector. */
export async function query(promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await response.json()) as {
    status: string;
    error?: string;
    data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  };
  if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
  return body.data.result;
}
