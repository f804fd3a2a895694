#!/usr/bin/env node
// npm run figures: render figure specs to PNG + SVG under figures/ (see src/viz/renderCli.ts).
'use strict';
const path = require('path');
const entry = path.join(__dirname, '..', '..', 'dist', 'viz', 'renderCli.js');
let cli;
try {
  cli = require(entry);
} catch (err) {
  console.error(`cannot load ${entry}: ${err.message}\nRun \`npm run build\` first.`);
  process.exit(1);
}
cli.main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
