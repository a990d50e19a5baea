// No spec here: mocha appends a config's spec to the files named on the command line, so
// scripts/run-tests.sh names the suites and `npx mocha FILE` runs just FILE.
// tsx lets mocha load the TypeScript sources directly; the reporter prints the plain summary line CI reads.
module.exports = {
  'node-option': ['import=tsx'],
  extension: ['ts'],
  reporter: './test/summary-reporter.cjs',
  timeout: 20000,
  recursive: true,
};
