#!/usr/bin/env node
// Registers the tslab kernel (npm run jupyter:setup); the logic is in src/notebook/cli.ts.
'use strict';
require('../runCompiled')('notebook/cli.js', 'mainSetup');
