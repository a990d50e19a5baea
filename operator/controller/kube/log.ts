// The operator's log: one JSON object a line on stderr, as cluster log collectors expect.
export type Level = 'debug' | 'info' | 'warn' | 'error';

export type Logger = (level: Level, msg: string, fields?: Record<string, unknown>) => void;

const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function jsonLogger(
  minLevel: Level = 'info',
  write = (line: string) => process.stderr.write(line),
): Logger {
  return (level, msg, fields) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    write(
      JSON.stringify({
        time: new Date().toISOString(),
        level,
        component: 'agentcage-operator',
        msg,
        ...fields,
      }) + '\n',
    );
  };
}

export const silentLogger: Logger = () => {};
