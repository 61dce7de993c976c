import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Every logger made here and every child of one: a level change from the config service reaches them all
 * (pino children copy their parent's level when made, so setting it on the root alone would not do).
 */
const loggers = new Set<WeakRef<Logger>>();

function track(logger: Logger): void {
  loggers.add(new WeakRef(logger));
}

/** JSON logs on stdout, one logger per service; LOG_LEVEL overrides the level. */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  const logger = pino({ name, level, onChild: track });
  track(logger);
  return logger;
}

/** Sets the level of every logger of this process (a live setting: `log.level`). */
export function setLogLevel(level: string): void {
  for (const ref of loggers) {
    const logger = ref.deref();
    if (logger) logger.level = level;
    else loggers.delete(ref);
  }
}
