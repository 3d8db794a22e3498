/**
 * `wgfabric doctor [--role agent|lb|server] [--interface IF] [--wg-interface IF]
 *   [--expected-flows N] [--ipv6] [--ignore ID,...] [--json]`
 *
 * Checks the host (the network namespace it runs in) for a role and prints what to change,
 * with the command. Exit 0: nothing to change; exit 1: at least one warning or failure.
 */
import { Command, CommanderError, Option } from 'commander';
import { FabricError } from '../protocol/errors.js';
import { DOCTOR_ROLES, diagnose, doctorExitCode, type DoctorRole, type Finding } from '../doctor/checks.js';
import { gatherFacts } from '../doctor/facts.js';
import { emit, renderTable } from './output.js';

interface Flags {
  role: DoctorRole;
  interface?: string;
  wgInterface?: string;
  expectedFlows?: number;
  ipv6?: boolean;
  ignore?: string;
  json?: boolean;
}

function parseFlows(v: string): number {
  if (!/^\d{1,9}$/.test(v)) throw new FabricError('WGF_ERR_VALIDATION', `--expected-flows must be a whole number, got "${v}"`);
  return Number(v);
}

/** Human form: one row per check, then the fixes of what is wrong. */
export function renderFindings(role: DoctorRole, findings: readonly Finding[]): string {
  const table = renderTable(findings, [
    { header: 'STATUS', get: (f) => f.status.toUpperCase() },
    { header: 'CHECK', get: (f) => f.id },
    { header: 'FOUND', get: (f) => f.found },
  ]);
  const bad = findings.filter((f) => f.status === 'warn' || f.status === 'fail');
  const fixes = bad.map((f) => `- ${f.id}: ${f.found}; want ${f.want}\n  why: ${f.why}\n  fix: ${f.fix}\n`).join('');
  const summary = bad.length === 0 ? `nothing to change for role ${role}\n` : `${bad.length} thing(s) to change for role ${role}:\n${fixes}`;
  return `${table}\n${summary}`;
}

export function registerDoctorCommand(program: Command): Command {
  return program
    .command('doctor')
    .description('check this host (its network namespace) for a wgfabric role and print what to change, with the command')
    .addOption(new Option('--role <role>', 'what the host runs').choices([...DOCTOR_ROLES]).default('agent'))
    .option('--interface <if>', 'the uplink carrying WireGuard/client traffic (offloads, RSS, rp_filter, MTU)')
    .option('--wg-interface <if>', 'the WireGuard interface (MTU against the uplink)')
    .option('--expected-flows <n>', 'concurrent client flows this LB should carry (conntrack sizing)', parseFlows)
    .option('--ipv6', 'check IPv6 forwarding too')
    .option('--ignore <ids>', 'comma-separated check ids to leave out')
    .option('--json', 'print JSON')
    .action(async (f: Flags) => {
      const facts = await gatherFacts({ ...(f.interface ? { interface: f.interface } : {}), ...(f.wgInterface ? { wgInterface: f.wgInterface } : {}) });
      const findings = diagnose(facts, {
        role: f.role,
        ...(f.expectedFlows !== undefined ? { expectedFlows: f.expectedFlows } : {}),
        ...(f.ipv6 ? { ipv6: true } : {}),
        ...(f.ignore ? { ignore: f.ignore.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
      });
      const code = doctorExitCode(findings);
      emit(Boolean(f.json), { role: f.role, ok: code === 0, findings }, () => renderFindings(f.role, findings));
      // A non-zero exit without an error message: the report above is the message.
      if (code !== 0) throw new CommanderError(code, 'wgfabric.doctor', 'something to change');
    });
}
