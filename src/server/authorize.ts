import { FabricError } from '../protocol/errors.js';
import type { TokenInfo } from '../protocol/types.js';
import type { ControlPlane } from '../control/plane.js';
import { allowed, type Access } from './policy.js';

/**
 * The one authentication and authorization path: the request hook runs it for every call, and
 * an open watch stream runs it again on each heartbeat, so a deleted token, or a node token
 * whose node or pool was deleted, is refused the same way wherever it is checked (also on
 * another replica: the check reads the shared store through the replica's auth cache, which
 * the store watch invalidates, see control/auth-cache.ts). Throws WGF_ERR_UNAUTHORIZED or
 * WGF_ERR_FORBIDDEN; never puts the token text into a message.
 */
export async function authorize(cp: ControlPlane, header: string | undefined, access: Access, params: Readonly<Record<string, unknown>>, what: string): Promise<TokenInfo> {
  const m = typeof header === 'string' ? /^Bearer\s+([\x21-\x7e]{1,256})\s*$/i.exec(header) : null;
  const token = m ? await cp.authenticate(m[1]!) : null;
  if (!token) throw new FabricError('WGF_ERR_UNAUTHORIZED', header === undefined ? 'this route needs a token' : 'the token is not valid');
  if (!allowed(access, token, params)) throw new FabricError('WGF_ERR_FORBIDDEN', `role ${token.role} may not ${what}`, { role: token.role });
  return token;
}
