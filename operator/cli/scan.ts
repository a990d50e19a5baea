// `agentcage scan [FILE|-] [--json]`: the proxy's secret detectors over a file or stdin, a pre-flight
// check for payloads and logs. Exit 0 when clean, 3 when something is found (1: unreadable input).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { scanForSecrets } from '../../proxy-image/src/inspect/scan-report.ts';
import { CliError } from './io.ts';

export const EXIT_FOUND = 3;

function readBytes(file: string): Buffer {
  try {
    return readFileSync(file === '-' ? 0 : file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (code ?? String(err));
    throw new CliError(`cannot read ${file}: ${why}`);
  }
}

export function registerScan(program: Command): void {
  program
    .command('scan')
    .description(
      "look for secrets in a file or stdin with the proxy's detectors (exit 0 clean, 3 when found)",
    )
    .argument('[file]', 'the file to scan; "-" or nothing reads stdin', '-')
    .option('--json', 'print the findings as one JSON document')
    .option(
      '--host <domain>',
      'judge as if sent to this host: credentials that belong there are not findings',
    )
    .action((file: string, o: { json?: boolean; host?: string }) => {
      const name = file === '-' ? 'stdin' : file;
      const findings = scanForSecrets(readBytes(file), { host: o.host });
      if (o.json) {
        process.stdout.write(JSON.stringify({ file: name, findings }, null, 2) + '\n');
      } else {
        for (const f of findings) {
          const how = f.encoding === 'plain' ? '' : ` (${f.encoding}-encoded)`;
          process.stdout.write(
            `${name}:${f.line}:${f.column}: ${f.severity} ${f.pattern}: ${f.title} ${f.masked} at offset ${f.offset}${how}\n`,
          );
        }
        process.stderr.write(
          findings.length === 0 ? `${name}: no secrets found\n` : `${name}: ${findings.length} finding(s)\n`,
        );
      }
      if (findings.length > 0) process.exitCode = EXIT_FOUND;
    });
}
