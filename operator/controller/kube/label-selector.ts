// Label selectors in the API server's string form: `a=b`, `a==b`, `a!=b`, `a`, `!a`,
// `a in (x,y)`, `a notin (x,y)`, joined by commas.
export type LabelTest = (labels: Record<string, string>) => boolean;

export function parseLabelSelector(selector: string | undefined): LabelTest {
  if (!selector || selector.trim() === '') return () => true;
  const tests: LabelTest[] = [];
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  for (const raw of parts) {
    const p = raw.trim();
    let m: RegExpMatchArray | null;
    if ((m = p.match(/^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const [, key, op, list] = m;
      const values = new Set(list.split(',').map((v) => v.trim()));
      tests.push(
        op === 'in' ? (l) => key in l && values.has(l[key]) : (l) => !(key in l && values.has(l[key])),
      );
    } else if ((m = p.match(/^([\w./-]+)\s*(!=|==|=)\s*([\w.-]*)$/))) {
      const [, key, op, value] = m;
      tests.push(op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value);
    } else if ((m = p.match(/^!([\w./-]+)$/))) {
      const key = m[1];
      tests.push((l) => !(key in l));
    } else if ((m = p.match(/^([\w./-]+)$/))) {
      const key = m[1];
      tests.push((l) => key in l);
    } else {
      throw new Error(`unable to parse label selector requirement "${p}"`);
    }
  }
  return (labels) => tests.every((t) => t(labels));
}
