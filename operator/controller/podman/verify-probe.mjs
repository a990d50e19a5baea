// cage verify's network probe. Runs with node inside the agent's network namespace (a container
// joined to the agent container's network, no capabilities, read-only) and tries what the agent
// could try. Plain JavaScript with node built-ins only: it runs in the proxy image, untranspiled.
// Input: one JSON argument (see verify.ts ProbeConfig). Output: one JSON line per check:
//   {"check": "...", "ok": true|false, "tried": "...", "result": "..."}
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';

const cfg = JSON.parse(process.argv[2]);
const TIMEOUT = cfg.timeoutMs ?? 3000;
const ca = readFileSync(cfg.caFile, 'utf8');

function report(check, ok, tried, result) {
  process.stdout.write(JSON.stringify({ check, ok, tried, result }) + '\n');
}

/** Resolves to 'connected' or the error code; never rejects. */
function tryConnect(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (r) => {
      clearTimeout(t);
      s.destroy();
      resolve(r);
    };
    const t = setTimeout(() => done('timeout'), TIMEOUT);
    s.once('connect', () => done('connected'));
    s.once('error', (e) => done(e.code ?? e.message));
  });
}

/** CONNECT through the proxy, then TLS verified against the cage CA only. */
function tunnel(host, port) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: cfg.proxy.host,
      port: cfg.proxy.port,
      method: 'CONNECT',
      path: `${host}:${port}`,
      headers: { host: `${host}:${port}` },
      timeout: TIMEOUT,
    });
    req.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        let body = head.toString();
        socket.on('data', (d) => (body += d));
        socket.once('end', () => resolve({ status: res.statusCode, body }));
        setTimeout(() => {
          socket.destroy();
          resolve({ status: res.statusCode, body });
        }, 500);
        return;
      }
      const t = tls.connect({ socket, servername: host, ca, rejectUnauthorized: true }, () =>
        resolve({ tls: t }),
      );
      t.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
    req.end();
  });
}

/** One HTTP/1.1 request over an established TLS socket; resolves {status, body}. */
function requestOver(t, host, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      createConnection: () => t,
      host,
      method,
      path,
      headers: { host, 'content-type': 'application/json', connection: 'close' },
      timeout: TIMEOUT * 2,
    });
    req.once('response', (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.once('end', () => resolve({ status: res.statusCode, body: b }));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
    req.end(body);
  });
}

function jsonBlock(body) {
  try {
    const j = JSON.parse(body);
    return j && typeof j === 'object' ? j : undefined;
  } catch {
    return undefined;
  }
}

/** A request the proxy must refuse: resolves {status, json, how}. */
async function refused(host, method, body) {
  const r = await tunnel(host, 443);
  if (!r.tls)
    return { status: r.status, json: jsonBlock(r.body), how: `CONNECT ${host}:443 answered ${r.status}` };
  const res = await requestOver(r.tls, host, method, '/agentcage-verify', body);
  return {
    status: res.status,
    json: jsonBlock(res.body),
    how: `TLS to ${host} (cage CA trusted), ${method} answered ${res.status}`,
  };
}

const describe = (j) =>
  j ? [j.inspector, j.reason].filter(Boolean).join(': ') || JSON.stringify(j).slice(0, 120) : 'no JSON body';

async function main() {
  // All at once: a dropped packet costs a full timeout, and there may be a dozen of them.
  const attempts = [
    ...cfg.direct.map((t) => ({
      t,
      check: 'no route out but the proxy',
      label: `direct TCP ${t.host}:${t.port}`,
    })),
    ...cfg.hostServices.map((t) => ({
      t,
      check: 'host services unreachable',
      label: `TCP ${t.host}:${t.port}`,
    })),
  ];
  const outcomes = await Promise.all(attempts.map((a) => tryConnect(a.t.host, a.t.port)));
  attempts.forEach((a, i) =>
    report(a.check, outcomes[i] !== 'connected', `${a.label} (${a.t.what})`, outcomes[i]),
  );

  const resolver = new dns.promises.Resolver({ timeout: TIMEOUT, tries: 1 });
  resolver.setServers([cfg.resolver]);
  for (const [fam, expect] of [
    ['A', cfg.placeholderIPv4],
    ['AAAA', cfg.placeholderIPv6],
  ]) {
    let got;
    try {
      got = (
        fam === 'A' ? await resolver.resolve4(cfg.blockedName) : await resolver.resolve6(cfg.blockedName)
      ).join(',');
    } catch (e) {
      got = e.code ?? e.message;
    }
    report(
      'DNS placeholder for a non-permitted name',
      got === expect,
      `${fam} ${cfg.blockedName} via ${cfg.resolver}`,
      `${got} (want ${expect})`,
    );
  }

  try {
    const r = await refused(cfg.blockedName, 'GET');
    report(
      'non-permitted domain gets the JSON 403',
      r.status === 403 && r.json !== undefined,
      `GET https://${cfg.blockedName}/ through the proxy ${cfg.proxy.host}:${cfg.proxy.port}`,
      `${r.how}; ${describe(r.json)}`,
    );
  } catch (e) {
    report(
      'non-permitted domain gets the JSON 403',
      false,
      `GET https://${cfg.blockedName}/ through the proxy`,
      String(e.message ?? e),
    );
  }

  // A fresh fake AWS key pair each run: never a documented example a detector might allowlist.
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let id = 'AKIA';
  for (let i = 0; i < 16; i++) id += abc[Math.floor(Math.random() * abc.length)];
  let secret = '';
  const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < 40; i++) secret += b64[Math.floor(Math.random() * 64)];
  const body = JSON.stringify({ aws_access_key_id: id, aws_secret_access_key: secret });
  let caOk = false;
  let caWhy = '';
  try {
    const r = await refused(cfg.secretHost, 'POST', body);
    caOk = r.how.includes('cage CA trusted');
    caWhy = r.how;
    report(
      'a fake secret in a request is blocked',
      r.status === 403 && r.json !== undefined,
      `POST https://${cfg.secretHost}/ with an AWS key pair in the body`,
      `${r.how}; ${describe(r.json)}`,
    );
  } catch (e) {
    caWhy = String(e.message ?? e);
    report(
      'a fake secret in a request is blocked',
      false,
      `POST https://${cfg.secretHost}/ with an AWS key pair`,
      caWhy,
    );
  }
  report(
    'the cage CA is trusted',
    caOk,
    `TLS through the proxy to ${cfg.secretHost}, verified against ${cfg.caFile} only`,
    caWhy,
  );
}

main().catch((e) => {
  report('probe', false, 'running the probe', String(e?.stack ?? e));
  process.exitCode = 1;
});
