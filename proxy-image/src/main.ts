// The proxy image's entry point (bundled by esbuild to /app/proxy.mjs): same flags as `agentcage proxy`.
import { proxyProgram } from './cli.ts';

await proxyProgram().parseAsync(process.argv);
