import { FabricError } from '../protocol/errors.js';

const WHY: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (another process holds that port; stop it or pick another port)',
  EACCES: 'permission denied (a port below 1024 needs root or CAP_NET_BIND_SERVICE)',
  EADDRNOTAVAIL: 'no interface of this host has that address',
};

/**
 * The error of a socket that could not listen, as WGF_ERR_LISTEN naming the address and the
 * reason (address in use, permission, no such address); any other error is passed through.
 */
export function listenError(e: unknown, what: string, host: string | undefined, port: number): unknown {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (!code || !(code in WHY)) return e;
  const addr = host === undefined ? `port ${port}` : `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new FabricError('WGF_ERR_LISTEN', `${what} cannot listen on ${addr}: ${code}, ${WHY[code]}`, { host: host ?? null, port, errno: code }, { cause: e });
}
