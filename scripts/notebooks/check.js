#!/usr/bin/env node
// Thin wrapper: the logic is in src/notebook/cli.ts (mainCheck), compiled to dist/ by `npm run build`.
'use strict';
const path = require('path');
const entry = path.join(__dirname, '..', '..', 'dist', 'notebook', 'cli.js');
let cli;
try {
  cli = require(entry);
} catch (err) {
  console.error(`cannot load ${entry}: ${err.message}\nRun \`npm run build\` first.`);
  process.exit(1);
}
Promise.resolve()
  .then(() => cli.mainCheck(process.argv.slice(2)))
  .then(
    (code) => process.exit(code),
    (err) => {
      console.error(err instanceof Error ? err.stack || err.message : err);
      process.exit(1);
    },
  );
