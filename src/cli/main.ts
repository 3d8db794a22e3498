import { Command, CommanderError } from 'commander';
import { FabricError, toFabricError } from '../protocol/errors.js';
import { registerAdminCommands } from './admin.js';
import { registerAgentCommand } from './agent.js';
import { registerAuditCommand } from './audit.js';
import { registerCompletionCommand } from './completion.js';
import { registerDnsCommands } from './dns.js';
import { registerDoctorCommand } from './doctor.js';
import { bindEnvironment } from './env.js';
import { registerImportCommand } from './import.js';
import { registerLabCommands } from './lab.js';
import { registerLbCommands } from './lb.js';
import { registerNodeCommands } from './node.js';
import { registerPeerCommands } from './peer.js';
import { registerPoolCommands } from './pool.js';
import { registerProbeCommand } from './probe.js';
import { registerServerCommand } from './server.js';
import { registerStoreCheckCommand } from './store-check.js';
import { registerStoreCommands } from './store.js';
import { registerTokenCommands } from './token.js';

/** Builds the command tree. Each role registers its own subcommands. */
export function buildProgram(): Command {
  const program = new Command('wgfabric')
    .description('Many WireGuard servers as one resilient VPN endpoint')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  registerServerCommand(program);
  registerStoreCheckCommand(program);
  registerStoreCommands(program);
  registerPoolCommands(program);
  registerNodeCommands(program);
  registerPeerCommands(program);
  registerImportCommand(program);
  registerAgentCommand(program);
  registerProbeCommand(program);
  registerLabCommands(program);
  registerLbCommands(program);
  registerDoctorCommand(program);
  registerTokenCommands(program);
  registerAuditCommand(program);
  registerDnsCommands(program);
  registerAdminCommands(program);
  bindEnvironment(program);
  // Last, so the completion covers every command and flag registered above.
  registerCompletionCommand(program);
  return program;
}

/** Entry point: returns the process exit code instead of exiting, so tests can call it. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    const err = toFabricError(e);
    reportError(err, argv.includes('--json'));
    return err.exitCode;
  }
}

function reportError(err: FabricError, json: boolean): void {
  if (json) {
    process.stderr.write(JSON.stringify(err.toJSON()) + '\n');
  } else {
    process.stderr.write(`error: ${err.message} [${err.code}]\n  hint: ${err.hint}\n`);
  }
}
