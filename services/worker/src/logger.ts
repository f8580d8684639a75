import type { AppConfig } from '@imagerec/shared';

export type LogLevel = AppConfig['logLevel'];
type Fields = Record<string, unknown>;

export interface Logger {
  error(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  debug(msg: string, fields?: Fields): void;
}

const RANK: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
};

const serialize = (_key: string, value: unknown) =>
  value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value;

/** One JSON object per line on stdout, in the shape pino writes, without the dependency. */
export function createLogger(level: LogLevel, bindings: Fields = {}): Logger {
  const write = (at: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: Fields) => {
    if (RANK[at] < RANK[level]) return;
    const line = { level: RANK[at], time: Date.now(), ...bindings, ...fields, msg };
    process.stdout.write(`${JSON.stringify(line, serialize)}\n`);
  };
  return { error: write('error'), warn: write('warn'), info: write('info'), debug: write('debug') };
}
