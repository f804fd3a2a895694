/**
 * One command of the CLI: its option table and what runs it. The dispatcher (main.ts) does the shared steps a
 * command asks for before `run`, so each command file holds only its own work.
 */
import { CommandSpec, ParsedArgs } from './args';

export interface Command {
  spec: CommandSpec;
  /** Provision Fashion-MNIST first when it is the dataset and no --data-dir is given (a fresh clone needs no data step). */
  provisionsData?: boolean;
  /** Start the compute engine (and say which) first; commands that start their own, or none, leave it unset. */
  needsEngine?: boolean;
  /** Takes one positional argument before the options (`cell <cell-id>`). */
  positional?: boolean;
  run(a: ParsedArgs, positional?: string): Promise<number>;
}
