// Shared by the npm-script wrappers: run one exported entry point of the compiled project (dist/, built by
// `npm run build`) with the command-line arguments and exit with its status.
'use strict';
const path = require('path');

module.exports = function runCompiled(relativeModule, exportName) {
  const entry = path.join(__dirname, '..', 'dist', relativeModule);
  let mod;
  try {
    mod = require(entry);
  } catch (err) {
    console.error(`cannot load ${entry}: ${err.message}\nRun \`npm run build\` first.`);
    process.exit(1);
  }
  Promise.resolve()
    .then(() => mod[exportName](process.argv.slice(2)))
    .then(
      (code) => process.exit(code),
      (err) => {
        console.error(err instanceof Error ? err.stack || err.message : err);
        process.exit(1);
      },
    );
};
