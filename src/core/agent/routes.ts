// The node's side of agents (/v1/agents/…): an agent announces itself for as long as it holds a stream
// open (COOEE: its provider, model and concurrency join the node's capability broadcast, so peers,
// `chorus peers` and the election score see them; a killed agent's connection closes and it is gone),
// reports how many tasks it runs (the availability broadcast), and passes everything its provider
// produced through this node's SHHH redactor (configured rules and the leader's policy) before it is
// written anywhere — each finding leaves an audit record in the event log, like any other.
import type { Route } from '../api/server.ts';
import { UsageError } from '../errors.ts';
import type { AgentAnnouncement, Presence } from '../pubsub/presence.ts';
import { SecretDeniedError, type Redactor, type RedactionFinding } from '../shhh/redactor.ts';

export interface AgentRouteDeps {
  presence: Pick<Presence, 'setAgents' | 'setTasks'>;
  redactor: Pick<Redactor, 'redactText' | 'scrubLine'>;
  record: (kind: string, data: unknown) => void;
}

/** What `GET /v1/agents` answers: the agents announced through this node. */
export interface AgentEntry extends AgentAnnouncement {
  running: number;
  since: string;
}

/** What `POST /v1/agents/redact` answers. */
export interface RedactAnswer {
  text: string;
  /** How many secrets were replaced (each one audited). */
  redactions: number;
  rules: string[];
}

const NAME = /^[a-zA-Z0-9_.@-]{1,64}$/;
const MAX_TEXT = 3 * 1024 * 1024;

function field(b: Record<string, unknown>, key: string): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new UsageError(`${key} must be a string`);
  return v;
}

function record(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new UsageError('the request body must be a JSON object');
  return v as Record<string, unknown>;
}

export function agentRoutes(deps: AgentRouteDeps): Record<string, Route> {
  /** Open announcements, by a per-connection id (a restarted agent may overlap its old connection). */
  const open = new Map<number, AgentEntry>();
  let nextId = 1;
  const publish = (): void => {
    const byName = new Map<string, AgentEntry>();
    for (const e of open.values()) byName.set(e.name, e); // the latest connection of a name wins
    const list = [...byName.values()];
    deps.presence.setTasks(list.reduce((n, e) => n + e.running, 0));
    void deps.presence.setAgents(
      list.map(({ name, provider, model, max_concurrent }) => ({
        name,
        provider,
        ...(model ? { model } : {}),
        max_concurrent,
      })),
    );
  };
  return {
    'GET /v1/agents': async () => [...open.values()],
    /** Announced while this stream is open; the first line confirms it. */
    'GET /v1/agents/announce': async ({ url, res, signal }) => {
      const q = url.searchParams;
      const name = q.get('name') ?? '';
      const provider = q.get('provider') ?? '';
      const model = q.get('model') ?? '';
      const max = Number(q.get('maxConcurrent') ?? '1');
      if (!NAME.test(name)) throw new UsageError(`not an agent name: ${name}`);
      if (!/^[a-z][a-z0-9_-]{0,31}$/.test(provider)) throw new UsageError(`not a provider name: ${provider}`);
      if (model.length > 128) throw new UsageError('model: at most 128 characters');
      if (!Number.isInteger(max) || max < 1 || max > 1024) throw new UsageError('maxConcurrent must be 1–1024');
      const id = nextId++;
      const entry: AgentEntry = {
        name,
        provider,
        ...(model ? { model } : {}),
        max_concurrent: max,
        running: 0,
        since: new Date().toISOString(),
      };
      open.set(id, entry);
      publish();
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ announced: entry })}\n`);
      await new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      open.delete(id);
      publish();
      res.end();
      return undefined;
    },
    'POST /v1/agents/load': async ({ body }) => {
      const b = record(await body());
      const name = field(b, 'name');
      const running = b.running;
      if (typeof running !== 'number' || !Number.isInteger(running) || running < 0)
        throw new UsageError('running must be a whole number');
      let found = false;
      for (const e of open.values())
        if (e.name === name) {
          e.running = running;
          found = true;
        }
      if (!found) throw new UsageError(`no agent ${name} is announced through this node`, 'NOT_ANNOUNCED');
      publish();
      return { name, running };
    },
    'POST /v1/agents/redact': async ({ body }): Promise<RedactAnswer> => {
      const b = record(await body());
      const text = field(b, 'text') ?? '';
      if (text.length > MAX_TEXT) throw new UsageError(`text over ${MAX_TEXT} characters`);
      const location = field(b, 'location') ?? 'agent';
      let clean: string;
      let findings: RedactionFinding[];
      try {
        // a deny rule throws SecretDeniedError (HTTP 422, code SHHH_DENIED): the content is not written…
        ({ text: clean, findings } = deps.redactor.redactText(text, location));
      } catch (err) {
        // …except a log line, which is scrubbed whole instead (deny still redacts in logs)
        if (!(err instanceof SecretDeniedError) || b.log !== true) throw err;
        clean = deps.redactor.scrubLine(text);
        findings = [err.finding];
      }
      for (const f of findings) {
        const { rule, severity, tags, sha256 } = f;
        deps.record('shhh_redaction', {
          rule,
          severity,
          tags,
          location,
          sha256,
          source: 'agent',
          agent: field(b, 'agent'),
          task: field(b, 'task'),
        });
      }
      return { text: clean, redactions: findings.length, rules: [...new Set(findings.map((f) => f.rule))] };
    },
  };
}
