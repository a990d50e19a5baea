// The reused buffers that carry upstream bytes to the agent's socket (proxy/slabs.ts).
import assert from 'node:assert/strict';
import { copyToSlab, idleSlabs, shrinkSlabPools } from '../../../proxy-image/src/proxy/slabs.ts';

describe('slabs for response bytes on their way to the agent', () => {
  it('copies the bytes: changing the source afterwards does not change the copy', () => {
    const src = Buffer.from('first content');
    const c = copyToSlab(src);
    src.write('XXXXX');
    assert.equal(c.data.toString(), 'first content');
    c.done();
  });

  it('reuses a slab only after a successful write; a failed write leaves it to the collector', () => {
    const a = copyToSlab(Buffer.alloc(100, 'a'));
    const held = idleSlabs()[0];
    // While a is in flight, another copy never gets a's memory.
    const b = copyToSlab(Buffer.alloc(100, 'b'));
    assert.notEqual(a.data.buffer, b.data.buffer);
    assert.equal(a.data.toString(), 'a'.repeat(100));
    a.done(new Error('EPIPE'));
    assert.equal(idleSlabs()[0], held, 'a failed write does not return its slab');
    b.done();
    b.done(); // a second callback must not free it twice
    assert.equal(idleSlabs()[0], held + 1);
    const c = copyToSlab(Buffer.alloc(10, 'c'));
    assert.equal(c.data.buffer, b.data.buffer, 'the returned slab is used again');
    assert.equal(c.data.toString(), 'c'.repeat(10));
    c.done();
  });

  it('keeps as many idle slabs as were out at once lately, and none once the load has ended', () => {
    shrinkSlabPools();
    shrinkSlabPools();
    assert.equal(idleSlabs()[0], 0, 'nothing idle after two quiet periods');
    const burst = Array.from({ length: 40 }, (_, i) => copyToSlab(Buffer.alloc(1000, i)));
    burst.forEach((c, i) =>
      assert.ok(
        c.data.every((x) => x === i),
        `copy ${i} holds its own bytes`,
      ),
    );
    for (const c of burst) c.done();
    assert.equal(idleSlabs()[0], 40);
    shrinkSlabPools(); // the period that saw 40 out at once keeps 40
    assert.equal(idleSlabs()[0], 40);
    const again = Array.from({ length: 10 }, () => copyToSlab(Buffer.alloc(10)));
    for (const c of again) c.done();
    shrinkSlabPools(); // at most 10 were out in this period
    assert.equal(idleSlabs()[0], 10);
    shrinkSlabPools();
    assert.equal(idleSlabs()[0], 0);
  });

  it('picks the size for the chunk: 16 KiB, 64 KiB, or a plain copy beyond', () => {
    const small = copyToSlab(Buffer.alloc(16 * 1024, 1));
    const mid = copyToSlab(Buffer.alloc(16 * 1024 + 1, 2));
    const big = copyToSlab(Buffer.alloc(64 * 1024 + 1, 3));
    assert.equal(small.data.buffer.byteLength, 16 * 1024);
    assert.equal(mid.data.buffer.byteLength, 64 * 1024);
    assert.equal(big.data.length, 64 * 1024 + 1);
    assert.ok(big.data.every((x) => x === 3));
    for (const c of [small, mid, big]) c.done();
  });
});
