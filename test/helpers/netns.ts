// A LAN of network namespaces for multi-host tests: "hosts" joined by veth pairs to a bridge that
// lives in its own "switch" namespace, so the machine's own network is never touched. Each host has
// one interface (eth0) on <subnet>.<10 + i>/24. Needs root and `ip netns`; whyNoNetns() says why not.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function ip(...args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim() || r.error?.message}`);
  return r.stdout;
}

/** Why network namespaces cannot be used here, or undefined when they can. */
export function whyNoNetns(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  const probe = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0)
    return `\`ip netns\` is unavailable: ${probe.error?.message ?? probe.stderr.trim()}`;
  return undefined;
}

export class NetnsLan {
  readonly run = `chorus-${randomBytes(3).toString('hex')}`;
  private readonly hosts: number;
  private readonly subnet: string;
  private readonly onExit = (): void => this.teardown();

  /** `subnet` is the first three octets, e.g. "10.77.0". */
  constructor(hosts: number, subnet: string) {
    this.hosts = hosts;
    this.subnet = subnet;
  }

  ns(i: number): string {
    return `${this.run}-h${i}`;
  }

  addr(i: number): string {
    return `${this.subnet}.${10 + i}`;
  }

  /** The switch port of host i (down = its cable is pulled). */
  setCable(i: number, up: boolean): void {
    ip('-n', this.switchNs, 'link', 'set', `port${i}`, up ? 'up' : 'down');
  }

  /** Runs a Node.js script inside host i's namespace; returns its stdout. */
  exec(i: number, script: string, timeoutMs = 10_000): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', this.ns(i), process.execPath, '-e', script], {
      encoding: 'utf8',
      timeout: timeoutMs,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  setup(): void {
    process.on('exit', this.onExit); // also when the runner is interrupted
    ip('netns', 'add', this.switchNs);
    ip('-n', this.switchNs, 'link', 'set', 'lo', 'up');
    ip('-n', this.switchNs, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', this.switchNs, 'link', 'set', 'br0', 'up');
    for (let i = 1; i <= this.hosts; i++) {
      ip('netns', 'add', this.ns(i));
      ip('-n', this.ns(i), 'link', 'set', 'lo', 'up');
      // created inside the switch namespace with its peer moved straight into the host namespace
      ip('-n', this.switchNs, 'link', 'add', `port${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns(i));
      ip('-n', this.switchNs, 'link', 'set', `port${i}`, 'master', 'br0');
      ip('-n', this.switchNs, 'link', 'set', `port${i}`, 'up');
      ip('-n', this.ns(i), 'addr', 'add', `${this.addr(i)}/24`, 'dev', 'eth0');
      ip('-n', this.ns(i), 'link', 'set', 'eth0', 'up');
    }
  }

  /** This run's namespaces that exist. */
  created(): string[] {
    return ip('netns', 'list')
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(`${this.run}-`));
  }

  /** Runs `stop` (the processes in the namespaces), then deletes the namespaces even if it threw; returns any left. */
  async shutdown(stop: () => Promise<void>): Promise<string[]> {
    try {
      await stop();
    } finally {
      this.teardown();
    }
    return this.created();
  }

  /** Deletes this run's namespaces (their veths and the bridge go with them). Safe to call twice. */
  teardown(): void {
    for (const name of this.created()) spawnSync('ip', ['netns', 'del', name]);
    process.off('exit', this.onExit);
  }

  private get switchNs(): string {
    return `${this.run}-sw`;
  }
}
