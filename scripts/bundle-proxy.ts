// The proxy image's code: one esbuild build, used by scripts/build-images.sh, bench/proxy and the
// tests, so all three run the same files. The zod schema check is split into its own file, which
// only the short-lived policy-check child loads (policy/isolated-parse.ts): V8 keeps a script's
// whole source in the heap, and zod was 600 KB of a 1 MB bundle (2 to 3 MB of RSS, bench/proxy).
//
//   node --import tsx scripts/bundle-proxy.ts OUTDIR [ENTRY]    writes OUTDIR/proxy.mjs and its chunks
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const PROXY_ENTRY = join(root, 'proxy-image/src/main.ts');

/** Bundles the proxy into `outdir` (emptied first: chunk names carry hashes); returns proxy.mjs. */
export async function bundleProxy(outdir: string, entry: string = PROXY_ENTRY): Promise<string> {
  // Emptied, so only a directory that holds nothing but a bundle's files (a typo must not wipe
  // anything else).
  const stray = existsSync(outdir) ? readdirSync(outdir).filter((f) => !f.endsWith('.mjs')) : [];
  if (stray.length > 0)
    throw new Error(
      `${outdir} holds more than a proxy bundle (${stray.slice(0, 3).join(', ')}): give an empty or bundle-only directory`,
    );
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: { proxy: entry },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outdir,
    outExtension: { '.js': '.mjs' },
    nodePaths: [join(root, 'node_modules')],
    // No comments or whitespace: V8 keeps the whole source in the heap, and one character past
    // U+00FF in a comment makes the whole file two bytes a character.
    minifyWhitespace: true,
    logLevel: 'warning',
    // CommonJS dependencies call require(), which an ES module lacks.
    banner: {
      js: "import { createRequire as __agentcageCreateRequire } from 'node:module'; const require = __agentcageCreateRequire(import.meta.url);",
    },
  });
  return join(outdir, 'proxy.mjs');
}

/** The files a bundle consists of (what the image copies). */
export function bundleFiles(outdir: string): string[] {
  return readdirSync(outdir).filter((f) => f.endsWith('.mjs'));
}

/** The files node loads when it starts `main`: it and its static imports, transitively. */
export function loadedAtStart(outdir: string, main = 'proxy.mjs'): string[] {
  const seen = new Set<string>();
  const visit = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    const text = readFileSync(join(outdir, f), 'latin1');
    // import{a}from"./x.mjs", import"./x.mjs", export{a}from"./x.mjs"; never import("./x.mjs")
    for (const m of text.matchAll(
      /\b(?:import|export)\s*(?:[\w$*{}\s,]+from\s*)?["']\.\/([\w.-]+\.mjs)["']/g,
    ))
      visit(m[1]);
  };
  visit(main);
  return [...seen];
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const [outdir, entry] = process.argv.slice(2);
  if (!outdir) {
    process.stderr.write('usage: node --import tsx scripts/bundle-proxy.ts OUTDIR [ENTRY]\n');
    process.exit(2);
  }
  try {
    const main = await bundleProxy(resolve(outdir), entry ? resolve(entry) : undefined);
    process.stdout.write(`${main} (${bundleFiles(resolve(outdir)).join(', ')})\n`);
  } catch (e) {
    process.stderr.write(`bundle-proxy: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
