#!/usr/bin/env node
// Executes the notebooks headless (npm run notebooks); the logic is in src/notebook/cli.ts.
'use strict';
require('../runCompiled')('notebook/cli.js', 'mainRun');
