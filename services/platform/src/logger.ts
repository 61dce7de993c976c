import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout, one logger per service; LOG_LEVEL overrides the level. */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level });
}
