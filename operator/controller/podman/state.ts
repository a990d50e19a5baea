// What the podman controller keeps per cage on disk: the Cage as applied, the rendered files,
// its CA, the placeholders it generated (so they stay the same across updates) and the names of
// everything it created (so destroy removes exactly those). Root only: it holds the CA key.
//   $AGENTCAGE_STATE_DIR (default /var/lib/agentcage/cages)/<name>/
//     cage.yaml  state.json  ca/ca.crt ca/ca.key  rendered/*  logs/*
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export interface CageRecord {
  name: string;
  createdAt: string;
  updatedAt: string;
  /** The cage's internal network, its subnet and the host bridge podman gave it. */
  network: string;
  subnet: string;
  bridge?: string;
  /** Other networks this cage created (e.g. its own egress network), removed with it. */
  extraNetworks: string[];
  pods: { role: 'dns' | 'proxy' | 'agent'; name: string; file: string }[];
  secrets: string[];
  volumes: string[];
  placeholders: Record<string, string>;
  caFingerprint: string;
  /** Options given at create time that update keeps (a local upstream's CA, private CIDRs...). */
  options: CreateOptions;
}

export interface CreateOptions {
  /** PEM file of an extra CA the proxy trusts for upstream TLS (a local stand-in upstream). */
  upstreamCaFile?: string;
  /** CIDRs the proxy may connect to although they are private (a local stand-in upstream). */
  allowPrivateCidrs?: string[];
  /** name -> IP the proxy resolves without DNS (hostAliases of the proxy pod). */
  proxyHosts?: Record<string, string>;
}

export function stateRoot(): string {
  return process.env.AGENTCAGE_STATE_DIR ?? '/var/lib/agentcage/cages';
}

export class CageStore {
  constructor(public readonly root: string = stateRoot()) {}

  dir(name: string): string {
    return join(this.root, name);
  }
  path(name: string, ...parts: string[]): string {
    return join(this.root, name, ...parts);
  }

  exists(name: string): boolean {
    return existsSync(this.path(name, 'state.json'));
  }

  names(): string[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root)
      .filter((n) => this.exists(n))
      .sort();
  }

  read(name: string): CageRecord {
    const file = this.path(name, 'state.json');
    if (!existsSync(file)) throw new NoSuchCageError(name, this.names());
    return JSON.parse(readFileSync(file, 'utf8')) as CageRecord;
  }

  /** Writes through a temporary file, so a crash never leaves half a record behind. */
  write(rec: CageRecord): void {
    this.writeFile(rec.name, 'state.json', JSON.stringify(rec, null, 2) + '\n');
  }

  writeFile(name: string, rel: string, content: string, mode = 0o600): string {
    const file = this.path(name, rel);
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, content, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, file);
    return file;
  }

  readFile(name: string, rel: string): string {
    return readFileSync(this.path(name, rel), 'utf8');
  }

  ensureDir(name: string, rel = '.', mode = 0o700): string {
    const d = this.path(name, rel);
    mkdirSync(d, { recursive: true, mode });
    chmodSync(d, mode);
    return d;
  }

  remove(name: string): void {
    rmSync(this.dir(name), { recursive: true, force: true });
  }
}

export class NoSuchCageError extends Error {
  constructor(name: string, known: string[]) {
    super(
      `no cage named "${name}"` +
        (known.length
          ? ` (cages here: ${known.join(', ')})`
          : ' (there are no cages: create one with `agentcage cage create -c FILE`)'),
    );
    this.name = 'NoSuchCageError';
  }
}
