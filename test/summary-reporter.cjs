// Mocha's spec output plus the plain "N passed, N failed" line CI reads. Under scripts/run-tests.sh
// the counts go to MOCHA_STATS_FILE instead, so the script can add the static checks and print one line.
const fs = require('node:fs');
const Mocha = require('mocha');
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || {};
      const passes = s.passes || 0;
      const failures = s.failures || 0;
      if (process.env.MOCHA_STATS_FILE)
        fs.writeFileSync(process.env.MOCHA_STATS_FILE, `${passes} ${failures}\n`);
      else process.stdout.write(`\n${passes} passed, ${failures} failed\n`);
    });
  }
}
module.exports = SummaryReporter;
