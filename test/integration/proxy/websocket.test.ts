// WebSocket through the proxy: every message both ways through the inspectors; secrets injected
// outbound (own host only) and redacted inbound; a blocked message dropped and audited.
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import {
  AWS_KEY,
  nextMessage,
  opened,
  PLACEHOLDER,
  REAL_KEY,
  startRig,
  wsThroughProxy,
  type Rig,
} from './harness.ts';

describe('proxy, WebSocket', function () {
  this.timeout(30000);
  let rig: Rig;
  let ca: string;

  before(async () => {
    rig = await startRig({}, { transparentHttp: { host: '127.0.0.1', port: 0 } });
    ca = readFileSync(rig.caPath, 'utf8');
  });
  after(async () => rig?.close());

  it('wss through CONNECT: messages flow both ways; the placeholder is injected and redacted back', async () => {
    const ws = await wsThroughProxy(rig.proxy.ports.proxy, 'api.test', rig.up.httpsPort, ca, {
      Authorization: `Bearer ${PLACEHOLDER}`,
    });
    const hello = nextMessage(ws);
    await opened(ws);
    const h = JSON.parse(await hello) as { auth: string };
    // The upstream got the real value in the upgrade header and echoed it: the agent sees the placeholder.
    assert.equal(h.auth, `Bearer ${PLACEHOLDER}`);
    ws.send(`token=${PLACEHOLDER}`);
    const echo = await nextMessage(ws);
    assert.equal(
      echo,
      `echo:token=${PLACEHOLDER} [real value received]`,
      'upstream saw the real value; the agent sees it redacted',
    );
    ws.send('send-real');
    assert.equal(await nextMessage(ws), `inbound carries ${PLACEHOLDER}`);
    ws.close();
    const lines = rig.auditLines().filter((l) => l.kind === 'websocket');
    assert.ok(lines.some((l) => l.status === 101 && l.decision === 'allow'));
  });

  it('a message carrying an AWS key is dropped and audited; the connection and later messages go on', async () => {
    const ws = await wsThroughProxy(rig.proxy.ports.proxy, 'api.test', rig.up.httpsPort, ca);
    const hello = nextMessage(ws);
    await opened(ws);
    await hello;
    ws.send(`leak ${AWS_KEY}`);
    ws.send('after');
    // The first message the agent gets back is the echo of "after": the leak never reached upstream.
    assert.equal(await nextMessage(ws), 'echo:after');
    ws.close();
    const frame = rig.auditLines().find((l) => l.kind === 'websocket-frame' && l.decision === 'block');
    assert.equal(frame?.inspector, 'secrets');
    assert.equal(frame?.direction, 'outbound');
  });

  it('a plain ws:// upgrade on the transparent port is relayed; one to a blocked host gets the JSON 403', async () => {
    const port = rig.proxy.ports.transparentHttp!;
    const ws = new WebSocket(`ws://api.test:${rig.up.httpPort}/ws`, {
      createConnection: () => net.connect(port, '127.0.0.1'),
    } as ConstructorParameters<typeof WebSocket>[2]);
    const hello = nextMessage(ws);
    await opened(ws);
    await hello;
    ws.send(Buffer.from([1, 2, 3]), { binary: true });
    const back = await new Promise<Buffer>((r) => ws.once('message', (d) => r(d as Buffer)));
    assert.deepEqual([...back], [1, 2, 3]);
    ws.close();

    const blocked = new WebSocket(`ws://blocked.test:${rig.up.httpPort}/ws`, {
      createConnection: () => net.connect(port, '127.0.0.1'),
    } as ConstructorParameters<typeof WebSocket>[2]);
    const status = await new Promise<number>((resolve) => {
      blocked.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      blocked.on('error', () => resolve(-1));
    });
    assert.equal(status, 403);
  });

  it('permessage-deflate is not negotiated, so inspectors always see plain payloads', async () => {
    const ws = await wsThroughProxy(rig.proxy.ports.proxy, 'api.test', rig.up.httpsPort, ca);
    const hello = nextMessage(ws);
    await opened(ws);
    await hello;
    assert.equal(ws.extensions, '');
    ws.close();
  });

  it('the audit log holds no real value after WebSocket traffic', () => {
    assert.ok(!readFileSync(rig.auditPath, 'utf8').includes(REAL_KEY));
  });
});
