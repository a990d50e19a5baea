// Operational log: one JSON object a line on stderr (the audit log is separate and on its own file).
export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  (level: Level, msg: string, fields?: Record<string, unknown>): void;
}

export function stderrLogger(minLevel: Level = 'info'): Logger {
  const order: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  return (level, msg, fields) => {
    if (order[level] < order[minLevel]) return;
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + '\n');
  };
}

export const silentLogger: Logger = () => {};
