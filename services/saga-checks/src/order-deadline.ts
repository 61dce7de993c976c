import { readFileSync } from 'node:fs';
import { configServiceTarget, fetchEnvironment, settingsLayer } from '@cdc-outbox-saga/platform';

/**
 * The saga deadline the order service runs with (`saga.deadlineSeconds`): `given` (a command-line
 * override), else what the config service serves the order service, else the order service's built-in
 * default. An instance started with its own override (as the deadline test's is) is not seen here.
 */
export async function orderDeadlineSeconds(given?: number): Promise<number> {
  if (given !== undefined) return given;
  try {
    const layer = settingsLayer(await fetchEnvironment(configServiceTarget('order')));
    const served = (layer.saga as { deadlineSeconds?: unknown } | undefined)?.deadlineSeconds;
    if (served !== undefined) return Number(served);
  } catch {
    // No config service: the order service runs on its own files too.
  }
  const defaults = JSON.parse(readFileSync(new URL('../../../order/config/default.json', import.meta.url), 'utf8')) as {
    saga: { deadlineSeconds: number };
  };
  return defaults.saga.deadlineSeconds;
}
