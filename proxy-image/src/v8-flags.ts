// V8 settings for the proxy process, applied before any other module is evaluated (cli.ts
// imports this first). undici's HTTP parser is a WebAssembly module whose main function is huge:
// when it gets hot, V8's optimizing tier compiles it with about 30 MB of scratch memory, which
// showed as a 63 -> 100 MB RSS spike in the first 100 ms of load (bench/proxy). The baseline
// tier alone keeps that spike away; the parser is about 1% of the proxy's CPU, so the cost is
// within the noise of bench/proxy.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--liftoff-only');
