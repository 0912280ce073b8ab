// The election route group of the control API and the leader-only paths: /v1/election/{status,watch,trigger,resign},
// /v1/slurp/context (POST leader only, GET any node) and /v1/shhh/policy (POST leader only, GET any node).
import type { Route } from '../api/server.ts';
import { openStream } from '../api/stream.ts';
import { UsageError } from '../errors.ts';
import type { ElectionService } from './service.ts';

export function electionRoutes(c: { election: ElectionService }): Record<string, Route> {
  const election = () => c.election;
  return {
    'GET /v1/election/status': async () => election().status(),
    'GET /v1/election/watch': async ({ res, signal }) => {
      const stream = openStream(res, { signal }); // bounded: a client that stops reading is dropped
      let last = '';
      const write = (): void => {
        const s = election().status();
        const key = JSON.stringify([s.state, s.term, s.leader?.peerId, s.votedFor, s.voters.length, s.canWrite]);
        if (key === last) return;
        last = key;
        stream.send({ at: new Date().toISOString(), ...s });
      };
      let timer: NodeJS.Timeout | undefined;
      const onChange = (): void => {
        clearTimeout(timer);
        timer = setTimeout(write, 20);
      };
      write();
      election().on('change', onChange);
      await stream.done;
      clearTimeout(timer);
      election().off('change', onChange);
      stream.close();
      return undefined;
    },
    'POST /v1/election/trigger': async () => election().trigger(),
    'POST /v1/election/resign': async () => election().resign(),
    'POST /v1/slurp/context': async ({ body }) => {
      const b = (await body()) as { key?: unknown; content?: unknown };
      if (typeof b?.key !== 'string') throw new UsageError('a context write needs {key, content}');
      return election().putContext(b.key, b.content ?? null);
    },
    'GET /v1/slurp/context': async ({ url }) => election().contexts(url.searchParams.get('key') ?? undefined),
    'POST /v1/shhh/policy': async ({ body }) => election().setPolicy(await body()),
    'GET /v1/shhh/policy': async () => election().policy(),
  };
}
