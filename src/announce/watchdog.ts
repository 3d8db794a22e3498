/**
 * The dead-agent watchdog: a tiny bash process beside the agent that withdraws the routes when
 * the agent stops beating. The agent writes a line to its stdin every beat; when the pipe
 * closes (the agent died, even by SIGKILL: the kernel closes its end) or no line comes within
 * the timeout (the agent hangs or is stopped), it disables the announcer's bird protocols over
 * the control socket and exits. A clean stop writes "stop" first. bash and birdc only, so it
 * keeps working whatever state the agent's runtime is in.
 */
import { spawn, type ChildProcess } from 'node:child_process';

// It outlives the process it guards, so it writes its one log line itself, in the common shape
// (sys/log.ts: level, time, role, pid, msg) on the inherited stderr (the role's log).
export const WATCHDOG_SCRIPT = 'sock=$1; t=$2; role=$3; shift 3\n'
  + 'while IFS= read -r -t "$t" line; do [ "$line" = stop ] && exit 0; done\n'
  + 'for p in "$@"; do birdc -s "$sock" disable "$p" >/dev/null 2>&1; done\n'
  + 'printf \'{"level":"warn","time":"%s","role":"%s","pid":%d,"msg":"watchdog: no heartbeat within %ss or the pipe closed; announcements disabled","protocols":"%s"}\\n\' '
  + '"$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$role" "$$" "$t" "$*" >&2\n';

export class BirdWatchdog {
  private child: ChildProcess | null = null;
  private stopping = false;

  /**
   * @param onFired called when the watchdog withdrew (it then exits; the next beat starts a new one)
   */
  constructor(private readonly socket: string, private readonly protocols: readonly string[], private readonly timeoutS: number, private readonly onFired: () => void, private readonly role: 'agent' | 'lb' = 'agent') {}

  /** One heartbeat; (re)starts the watchdog process when none runs. */
  beat(): void {
    if (this.stopping) return;
    if (!this.child) this.start();
    this.child!.stdin!.write('\n');
  }

  /** Clean stop: the watchdog exits without withdrawing (the caller decides about the routes). */
  stop(): void {
    this.stopping = true;
    if (this.child?.stdin?.writable) this.child.stdin.end('stop\n');
    this.child = null;
  }

  private start(): void {
    const child = spawn('bash', ['-c', WATCHDOG_SCRIPT, 'wgfabric-watchdog', this.socket, String(this.timeoutS), this.role, ...this.protocols], { stdio: ['pipe', 'ignore', 'inherit'] });
    child.stdin!.on('error', () => {}); // EPIPE after it fired: the exit handler below restarts it
    child.on('exit', (code) => {
      if (this.child === child) this.child = null;
      if (!this.stopping && code === 0) this.onFired();
    });
    this.child = child;
  }
}
