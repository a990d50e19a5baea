// node-forge's ASN.1 and byte-string helpers from their own files: the package index also loads
// its pure-JavaScript TLS, RSA, PKCS#7/#12, ciphers and digests, which the proxy never uses.
declare module 'node-forge/lib/asn1.js' {
  import type forge from 'node-forge';
  const asn1: typeof forge.asn1;
  export default asn1;
}
declare module 'node-forge/lib/util.js' {
  import type forge from 'node-forge';
  const util: typeof forge.util;
  export default util;
}
