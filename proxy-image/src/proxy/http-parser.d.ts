// node's own HTTP/1 parser (llhttp, native), as node:http uses it internally. Only what
// origin-pool.ts calls is typed here.
declare module 'node:_http_common' {
  export class HTTPParser {
    static readonly RESPONSE: number;
    static readonly kOnMessageBegin: number;
    static readonly kOnHeaders: number;
    static readonly kOnHeadersComplete: number;
    static readonly kOnBody: number;
    static readonly kOnMessageComplete: number;
    static readonly kLenientNone: number;
    initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
    /** bytes parsed, or the parse error (with a `code` such as HPE_INVALID_CONSTANT) */
    execute(data: Buffer): number | (Error & { code?: string });
    /** end of input: completes a close-delimited body, or returns the error of a cut message */
    finish(): undefined | (Error & { code?: string });
    remove(): void;
    close(): void;
    [callback: number]: unknown;
  }
}
