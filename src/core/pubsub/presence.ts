// COOEE presence: the availability broadcast (every 30 s by default), the capability broadcast (on
// join and on change), and the directory of what peers announced (role, capabilities, status), which emits
// `change` when a peer appears, announces itself or is forgotten (the portal's live peer list).
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.ts';
import { NoSubscribersError } from './errors.ts';
import { TOPICS } from './topics.ts';
import type { ChorusPubSub, ReceivedMessage } from './pubsub.ts';

export type WorkStatus = 'ready' | 'working' | 'busy';

/** An agent working through a node (`chorus agent`, or the daemon's own): what it runs and how much at once. */
export interface AgentAnnouncement {
  name: string;
  provider: string;
  model?: string;
  max_concurrent: number;
}

export interface PeerPresence {
  peerId: string;
  role?: string;
  capabilities: string[];
  expertise: string[];
  status?: WorkStatus;
  availableForWork?: boolean;
  currentTasks?: number;
  maxTasks?: number;
  /** The agents working through the peer, as it announced them. */
  agents?: AgentAnnouncement[];
  lastSeen: string;
}

/** What a node says about itself: the fields of both COOEE broadcasts (a hello carries them all). */
export interface PresenceAnnouncement {
  node_id: string;
  role: string;
  capabilities: string[];
  expertise: string[];
  max_tasks: number;
  available_for_work: boolean;
  current_tasks: number;
  last_activity: string;
  status: WorkStatus;
  agents: AgentAnnouncement[];
}

export interface PresenceOptions {
  pubsub: ChorusPubSub;
  logger: Logger;
  intervalMs: number;
  capabilities: string[];
  expertise: string[];
  maxTasks: number;
  role: string;
}

export interface PresenceEvents {
  /** A peer appeared, announced its availability or capabilities, or was forgotten (its id). */
  change: [string];
}

export class Presence extends EventEmitter<PresenceEvents> {
  private readonly opts: PresenceOptions;
  private readonly directory = new Map<string, PeerPresence>();
  private timer: NodeJS.Timeout | undefined;
  private currentTasks = 0;
  private lastActivity = new Date();
  private agents: AgentAnnouncement[] = [];
  private readonly onMessage = (m: ReceivedMessage): void => this.observe(m);

  constructor(opts: PresenceOptions) {
    super();
    this.setMaxListeners(0);
    this.opts = { ...opts };
  }

  start(): void {
    this.opts.pubsub.on('message', this.onMessage);
    this.timer = setInterval(() => void this.broadcastAvailability(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.opts.pubsub.off('message', this.onMessage);
  }

  status(): WorkStatus {
    if (this.currentTasks === 0) return 'ready';
    return this.currentTasks >= this.opts.maxTasks ? 'busy' : 'working';
  }

  setTasks(count: number): void {
    this.currentTasks = count;
    this.lastActivity = new Date();
  }

  /** Updates announced capabilities; broadcasts when they changed. */
  async setCapabilities(capabilities: string[], expertise = this.opts.expertise, role = this.opts.role): Promise<void> {
    const changed =
      capabilities.join(',') !== this.opts.capabilities.join(',') ||
      expertise.join(',') !== this.opts.expertise.join(',') ||
      role !== this.opts.role;
    Object.assign(this.opts, { capabilities, expertise, role });
    if (changed) await this.broadcastCapabilities();
  }

  /** Applies a new role, expertise, capabilities and task limit (SIGHUP); re-announces when they changed. */
  async reconfigure(next: {
    role: string;
    expertise: string[];
    capabilities: string[];
    maxTasks: number;
  }): Promise<void> {
    const tasksChanged = next.maxTasks !== this.opts.maxTasks;
    this.opts.maxTasks = next.maxTasks;
    await this.setCapabilities(next.capabilities, next.expertise, next.role);
    if (tasksChanged) await this.broadcastAvailability();
  }

  /**
   * Sets the agents working through this node; their providers and models join the announced
   * capabilities (`provider:exec`, `model:llama3.2`), so peers and the election score see them.
   * Broadcasts the capabilities when they changed.
   */
  async setAgents(agents: AgentAnnouncement[]): Promise<void> {
    const changed = JSON.stringify(agents) !== JSON.stringify(this.agents);
    this.agents = agents.map((a) => ({ ...a }));
    if (changed) await this.broadcastCapabilities();
  }

  peers(): PeerPresence[] {
    return [...this.directory.values()];
  }

  peer(id: string): PeerPresence | undefined {
    return this.directory.get(id);
  }

  forget(id: string): void {
    if (this.directory.delete(id)) this.emit('change', id);
  }

  /** This node's role, capabilities and availability as announced to peers. */
  announcement(): PresenceAnnouncement {
    return {
      node_id: this.opts.pubsub.selfId,
      role: this.opts.role,
      capabilities: [...new Set([...this.opts.capabilities, ...agentCapabilities(this.agents)])],
      expertise: this.opts.expertise,
      max_tasks: this.opts.maxTasks,
      available_for_work: this.currentTasks < this.opts.maxTasks,
      current_tasks: this.currentTasks,
      last_activity: this.lastActivity.toISOString(),
      status: this.status(),
      agents: this.agents,
    };
  }

  async broadcastAvailability(): Promise<boolean> {
    const a = this.announcement();
    return this.quietly(() =>
      this.opts.pubsub.publish(
        'AvailabilityBcast',
        {
          node_id: a.node_id,
          available_for_work: a.available_for_work,
          current_tasks: a.current_tasks,
          max_tasks: a.max_tasks,
          last_activity: a.last_activity,
          status: a.status,
          timestamp: new Date().toISOString(),
        },
        { topic: TOPICS.coordination },
      ),
    );
  }

  async broadcastCapabilities(): Promise<boolean> {
    const a = this.announcement();
    return this.quietly(() =>
      this.opts.pubsub.publish(
        'CapabilityBcast',
        {
          node_id: a.node_id,
          role: a.role,
          capabilities: a.capabilities,
          expertise: a.expertise,
          max_tasks: a.max_tasks,
          agents: a.agents,
        },
        { topic: TOPICS.coordination },
      ),
    );
  }

  /** Announcements are periodic: with nobody listening yet, skip instead of waiting. */
  private async quietly(send: () => Promise<unknown>): Promise<boolean> {
    try {
      await send();
      return true;
    } catch (err) {
      if (!(err instanceof NoSubscribersError)) this.opts.logger.warn('announcement failed', { error: String(err) });
      return false;
    }
  }

  /**
   * Takes a peer's hello (an announcement sent to this node directly) into the directory; throws
   * when it is not an object. Returns the fields taken.
   */
  observeAnnouncement(from: string, raw: unknown): Record<string, unknown> {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('malformed announcement');
    const d = raw as Record<string, unknown>;
    const entry = this.entry(from, new Date().toISOString());
    applyAvailability(entry, d);
    applyCapabilities(entry, d);
    this.emit('change', from);
    return d;
  }

  private entry(peerId: string, seen: string): PeerPresence {
    const entry = this.directory.get(peerId) ?? { peerId, capabilities: [], expertise: [], lastSeen: seen };
    entry.lastSeen = seen;
    this.directory.set(peerId, entry);
    return entry;
  }

  private observe(m: ReceivedMessage): void {
    const env = m.envelope;
    if (!env) return;
    const known = this.directory.has(m.from);
    const entry = this.entry(m.from, m.receivedAt);
    if (env.from_role) entry.role = env.from_role;
    if (env.type === 'AvailabilityBcast') applyAvailability(entry, env.data);
    else if (env.type === 'CapabilityBcast') applyCapabilities(entry, env.data);
    else if (known) return; // only lastSeen moved
    this.emit('change', m.from);
  }
}

function applyAvailability(entry: PeerPresence, d: Record<string, unknown>): void {
  if (d.status === 'ready' || d.status === 'working' || d.status === 'busy') entry.status = d.status;
  if (typeof d.available_for_work === 'boolean') entry.availableForWork = d.available_for_work;
  if (typeof d.current_tasks === 'number') entry.currentTasks = d.current_tasks;
  if (typeof d.max_tasks === 'number') entry.maxTasks = d.max_tasks;
}

function applyCapabilities(entry: PeerPresence, d: Record<string, unknown>): void {
  if (Array.isArray(d.capabilities)) entry.capabilities = d.capabilities.map(String);
  if (Array.isArray(d.expertise)) entry.expertise = d.expertise.map(String);
  if (typeof d.role === 'string') entry.role = d.role;
  if (typeof d.max_tasks === 'number') entry.maxTasks = d.max_tasks;
  if (Array.isArray(d.agents)) entry.agents = d.agents.filter(isAgentAnnouncement).slice(0, 64);
}

function isAgentAnnouncement(v: unknown): v is AgentAnnouncement {
  const a = v as Partial<AgentAnnouncement> | null;
  return (
    typeof a === 'object' &&
    a !== null &&
    typeof a.name === 'string' &&
    typeof a.provider === 'string' &&
    typeof a.max_concurrent === 'number' &&
    (a.model === undefined || typeof a.model === 'string')
  );
}

/** The capabilities agents add to a node's announcement. */
function agentCapabilities(agents: AgentAnnouncement[]): string[] {
  return agents.flatMap((a) => [`provider:${a.provider}`, ...(a.model ? [`model:${a.model}`] : [])]);
}
