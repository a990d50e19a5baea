// undici's Pool from its own file: the package index also loads fetch, WebSocket, caches and
// mocks the proxy never uses (about 0.5 MB more bundle, and heap for their module state).
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export default Pool;
}
