// What an agent asks of its node, as typed calls over the control API (ApiClient): the claimable tasks
// for its profile, claim/renew/progress/complete/fail with the claim token, the committed transitions
// (watch), decisions and tasks for the prompt's context, SHHH redaction with audit, and its COOEE
// announcement. The agent loop depends on this interface only.
import type { ApiClient } from '../api/client.ts';
import type { Task } from '../tasks/model.ts';
import type { ContextReader } from './prompt.ts';
import type { RedactAnswer } from './routes.ts';

export interface AgentProfile {
  name: string;
  role: string;
  expertise: string[];
  capabilities: string[];
}

/** A committed change: the task as it is now and the log index it was committed at. */
export interface Change {
  task: Task;
  index: number;
}

export interface ClaimGrant {
  task: Task;
  token: string;
  index: number;
}

/** One committed change as `GET /v1/tasks/watch` streams it. */
export interface WatchEvent {
  kind: 'transition' | 'progress' | 'alert';
  id: string;
  to?: string;
  index: number;
}

export interface Announcement {
  name: string;
  provider: string;
  model?: string;
  maxConcurrent: number;
}

export interface AgentApi extends ContextReader {
  /** Claimable tasks, answered once the node applied the log up to `after` (the agent's last change). */
  next(profile: AgentProfile, after: number, signal: AbortSignal): Promise<Task[]>;
  claim(id: string, profile: AgentProfile, signal: AbortSignal): Promise<ClaimGrant>;
  renew(id: string, token: string, agent: string, signal: AbortSignal): Promise<unknown>;
  progress(
    id: string,
    token: string,
    agent: string,
    report: { percent?: number; note?: string },
    signal: AbortSignal,
  ): Promise<unknown>;
  /** Writes the result decision (through the node) and completes the task with its address. */
  complete(id: string, token: string, agent: string, content: string, signal: AbortSignal): Promise<Change>;
  fail(
    id: string,
    token: string,
    agent: string,
    reason: string,
    requeue: boolean,
    signal: AbortSignal,
  ): Promise<Change>;
  watch(signal: AbortSignal): AsyncIterable<WatchEvent | { watching: string }>;
  redact(
    text: string,
    where: { location: string; agent: string; task?: string; log?: boolean },
    signal: AbortSignal,
  ): Promise<RedactAnswer>;
  /** Announced while the returned stream is read; ends when the node goes away. */
  announce(a: Announcement, signal: AbortSignal): AsyncIterable<unknown>;
  load(name: string, running: number, signal: AbortSignal): Promise<unknown>;
}

/** The agent API over a node's control socket. */
export class NodeAgentApi implements AgentApi {
  private readonly client: ApiClient;

  constructor(client: ApiClient) {
    this.client = client;
  }

  next(p: AgentProfile, after: number, signal: AbortSignal): Promise<Task[]> {
    const q = new URLSearchParams({ as: p.name, role: p.role, after: String(after) });
    if (p.expertise.length) q.set('expertise', p.expertise.join(','));
    if (p.capabilities.length) q.set('capability', p.capabilities.join(','));
    return this.client.call<Task[]>('GET', `/v1/tasks/next?${q}`, undefined, signal);
  }

  claim(id: string, p: AgentProfile, signal: AbortSignal): Promise<ClaimGrant> {
    return this.client.call<ClaimGrant>(
      'POST',
      '/v1/tasks/claim',
      { id, as: p.name, hold: 'client', role: p.role, expertise: p.expertise, capabilities: p.capabilities },
      signal,
    );
  }

  renew(id: string, token: string, agent: string, signal: AbortSignal): Promise<unknown> {
    return this.client.call('POST', '/v1/tasks/renew', { id, token, as: agent }, signal);
  }

  progress(
    id: string,
    token: string,
    agent: string,
    report: { percent?: number; note?: string },
    signal: AbortSignal,
  ): Promise<unknown> {
    return this.client.call('POST', '/v1/tasks/progress', { id, token, as: agent, ...report }, signal);
  }

  complete(id: string, token: string, agent: string, content: string, signal: AbortSignal): Promise<Change> {
    const body = { id, token, as: agent, content: Buffer.from(content, 'utf8').toString('base64') };
    return this.client.call<Change>('POST', '/v1/tasks/complete', body, signal);
  }

  fail(
    id: string,
    token: string,
    agent: string,
    reason: string,
    requeue: boolean,
    signal: AbortSignal,
  ): Promise<Change> {
    const body = { id, token, as: agent, reason, requeue };
    return this.client.call<Change>('POST', '/v1/tasks/fail', body, signal);
  }

  watch(signal: AbortSignal): AsyncIterable<WatchEvent | { watching: string }> {
    return this.client.stream('/v1/tasks/watch', signal);
  }

  async decision(address: string, signal: AbortSignal): Promise<{ content: Buffer }> {
    const r = await this.client.call<{ content: string }>(
      'GET',
      `/v1/ucxl/get?${new URLSearchParams({ address })}`,
      undefined,
      signal,
    );
    return { content: Buffer.from(r.content, 'base64') };
  }

  task(id: string, signal: AbortSignal): Promise<Task> {
    return this.client.call<Task>('GET', `/v1/tasks/show?${new URLSearchParams({ id })}`, undefined, signal);
  }

  redact(
    text: string,
    where: { location: string; agent: string; task?: string; log?: boolean },
    signal: AbortSignal,
  ): Promise<RedactAnswer> {
    return this.client.call<RedactAnswer>('POST', '/v1/agents/redact', { text, ...where }, signal);
  }

  announce(a: Announcement, signal: AbortSignal): AsyncIterable<unknown> {
    const q = new URLSearchParams({ name: a.name, provider: a.provider, maxConcurrent: String(a.maxConcurrent) });
    if (a.model) q.set('model', a.model);
    return this.client.stream(`/v1/agents/announce?${q}`, signal);
  }

  load(name: string, running: number, signal: AbortSignal): Promise<unknown> {
    return this.client.call('POST', '/v1/agents/load', { name, running }, signal);
  }
}
