/**
 * The dispatcher: finds the command, parses its options, answers --help, does the shared steps the command
 * asks for (data, engine), runs it, and maps errors to exit codes (2: bad usage or config, 1: failure).
 */
import { ensureFashionMnist } from '../data/provision';
import { describeEngine, initEngine } from '../engine/backend';
import { nativeStats } from '../engine/native';
import { ConfigError } from '../experiment/config';
import { DefenseConfigError } from '../defenses/config';
import { formatHelp, parseArgs, UsageError } from './args';
import { becCommand } from './bec';
import { cellCommand } from './cluster';
import { Command } from './command';
import { dataCommand } from './data';
import { detectCommand } from './detect';
import { purifyCommand } from './purify';
import { lmcCommand, qraCommand, retuneCommand } from './reactivation';
import { reproduceCommand } from './reproduce';
import { baselineCommand, trainCommand } from './train';
import { tuneCommand } from './tune';

/** In the order `--help` lists them. */
const COMMANDS: Command[] = [
  trainCommand, baselineCommand, purifyCommand, retuneCommand, lmcCommand, qraCommand, becCommand, detectCommand,
  reproduceCommand, cellCommand, tuneCommand, dataCommand,
];
const commands = new Map(COMMANDS.map((c) => [c.spec.name, c]));

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === 'help') {
    console.log(['superficial-safety — superficial safety of backdoor defenses, in TypeScript', '',
      'Commands:', ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(10)} ${c.spec.summary}`), '',
      'Run `superficial-safety <command> --help` for its options.'].join('\n'));
    return name ? 0 : 1;
  }
  const cmd = commands.get(name);
  if (!cmd) throw new UsageError(`unknown command "${name}" (commands: ${[...commands.keys()].join(', ')})`);
  const positional = cmd.positional && rest[0] !== undefined && !rest[0].startsWith('--') ? rest.shift() : undefined;
  const a = parseArgs(cmd.spec, rest);
  if (a.help) {
    console.log(formatHelp(cmd.spec));
    return 0;
  }
  if (cmd.provisionsData && a.dataset === 'fashion-mnist' && !a.dataDir && !a.reportOnly) await ensureFashionMnist((s) => console.error(s));
  if (cmd.needsEngine) {
    const engine = await initEngine({ backend: a.backend as string | undefined, engine: a.engine as string | undefined, threads: a.threads as number | undefined });
    console.error(describeEngine(engine));
  }
  return cmd.run(a, positional);
}

/** Ops the native engine handed to wasm kernels (another dtype, dilation, broadcasting): counted, said once. */
function reportFallbacks(): void {
  const f = nativeStats().fallbacks;
  if (Object.keys(f).length) console.error(`native engine: ${Object.entries(f).map(([k, n]) => `${k} ×${n}`).join(', ')} ran on wasm kernels (unsupported shape or dtype)`);
}

/** Run the CLI on `argv` and set the process's exit code. */
export function runCli(argv: string[]): Promise<void> {
  return main(argv).then((code) => { reportFallbacks(); process.exitCode = code; }, (e: unknown) => {
    if (e instanceof UsageError || e instanceof ConfigError || e instanceof DefenseConfigError) {
      console.error(`error: ${e.message}`);
      process.exitCode = 2;
    } else {
      console.error(e instanceof Error ? `error: ${e.message}` : e);
      if (process.env.DEBUG && e instanceof Error) console.error(e.stack);
      process.exitCode = 1;
    }
  });
}
