#!/usr/bin/env node
/**
 * Command-line entry point: `superficial-safety <command> [options]` (package.json's `bin`, `node dist/cli.js`).
 * The commands live in src/cli/, one file each (or per small group); main.ts dispatches.
 */
import { runCli } from './cli/main';

void runCli(process.argv.slice(2));
