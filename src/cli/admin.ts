/**
 * `wgfabric admin add-master-key|rotate-master-key`: online master-key rotation (README,
 * "Master-key rotation"). add-master-key appends a fresh key to a key file on this machine;
 * rotate-master-key asks the control plane to re-seal every secret under it and retire the old.
 */
import { Command } from 'commander';
import { FabricError } from '../protocol/errors.js';
import { addMasterKey } from '../control/secrets.js';
import { apiClient, apiOptions, type ApiFlags } from './context.js';
import { emit } from './output.js';

export function registerAdminCommands(program: Command): Command {
  const admin = program.command('admin').description('control-plane administration: master-key rotation');

  admin.command('add-master-key')
    .description('append a fresh random key to a master key file (created 0600 if missing); copy the file to every replica')
    .requiredOption('--master-key-file <file>', 'the key file of the server(s)')
    .option('--json', 'JSON output')
    .action(async (f: { masterKeyFile: string; json?: boolean }) => {
      const keyId = await addMasterKey(f.masterKeyFile);
      emit(!!f.json, { keyId, file: f.masterKeyFile }, () => `added master key ${keyId} to ${f.masterKeyFile}\nnext: put this file on every replica, then run: wgfabric admin rotate-master-key --key-id ${keyId}\n`);
    });

  apiOptions(admin.command('rotate-master-key')
    .description('re-seal every sealed secret under a new master key and retire the old one (online; audited)')
    .option('--key-id <id>', 'the key to rotate to (default: the one new key in the key file of the replica that serves the call)'))
    .action(async (f: ApiFlags & { keyId?: string; json?: boolean }) => {
      if (f.keyId !== undefined && !/^[0-9a-f]{16}$/.test(f.keyId)) {
        throw new FabricError('WGF_ERR_VALIDATION', `--key-id "${f.keyId}" must be a master key id (16 hex digits, as printed by wgfabric admin add-master-key)`, { field: 'keyId' });
      }
      const res = await apiClient(f).rotateMasterKey(f.keyId);
      emit(!!f.json, res, () => `master key rotated from ${res.from} to ${res.to}: re-sealed ${res.resealed.pools} pool key(s) and ${res.resealed.presharedKeys} preshared key(s); key ${res.from} is retired (revision ${res.revision})\nnext: remove the retired key from every replica's key file\n`);
    });
  return admin;
}
