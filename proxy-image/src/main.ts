// The proxy image's entry point (bundled by scripts/bundle-proxy.ts to /app/proxy.mjs): same flags
// as `agentcage proxy`.
import { proxyProgram } from './cli.ts';

await proxyProgram().parseAsync(process.argv);
