// tsx lets mocha load the TypeScript sources directly; the reporter prints the plain summary line CI reads.
module.exports = {
  'node-option': ['import=tsx'],
  extension: ['ts'],
  spec: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
  reporter: './test/summary-reporter.cjs',
  timeout: 20000,
  recursive: true,
};
