// Decision voting: proposals with their quorum, state and votes (who, role, approve/reject, reason, whether
// the node checked the vote's signature); a vote with a reason; a new version proposed with a quorum.
// Live: every proposal or vote change arrives as a `proposal` event. (API: POST /v1/ucxl/propose,
// GET /v1/ucxl/proposals, POST /v1/ucxl/vote.)
import { useState } from 'preact/hooks';
import type { Proposal } from '../../src/core/proposals/model.ts';
import { formatAddress, parseAddress } from '../../src/core/ucxl/address.ts';
import { ApiError, get, post, toBase64 } from '../api.ts';
import { Empty, ErrorLine, Field, PeerId, Section, splitList, Tag, Time } from '../components.tsx';
import { href, useAction, useLive, useResource } from '../hooks.ts';

export type { Proposal };

const STATE_KIND = { open: 'warn', accepted: 'ok', rejected: 'bad' } as const;

function upsert(list: Proposal[] | undefined, p: Proposal): Proposal[] {
  return [p, ...(list ?? []).filter((x) => x.id !== p.id)].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/** Proposals (of one subject, or all), kept live; [] on a node without voting. */
export function useProposals(subject?: string, state?: string): Proposal[] {
  const res = useResource(
    () =>
      get<Proposal[]>('/v1/ucxl/proposals', { subject, state }).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404 && /^no route/.test(err.message)) return [];
        throw err;
      }),
    [subject, state],
  );
  useLive<Proposal>('proposal', (p) => {
    if ((!subject || p.subject === subject) && (!state || p.state === state)) res.set((list) => upsert(list, p));
  });
  return res.data ?? [];
}

export function ProposalBadge({ proposal }: { proposal: Proposal }) {
  const approvals = proposal.votes.filter((v) => v.vote === 'approve').length;
  return (
    <a href={href('votes', { id: proposal.id })}>
      <Tag kind={STATE_KIND[proposal.state]}>{proposal.state}</Tag> {approvals}/{proposal.quorum.count}
    </a>
  );
}

function VoteForm({ proposal, onVoted }: { proposal: Proposal; onVoted: (p: Proposal) => void }) {
  const [reason, setReason] = useState('');
  const action = useAction();
  const vote = (v: 'approve' | 'reject'): void => {
    void action.run(async () => {
      if (!reason.trim()) throw new Error('a vote needs a reason');
      onVoted(await post<Proposal>('/v1/ucxl/vote', { id: proposal.id, vote: v, reason: reason.trim() }));
      setReason('');
    });
  };
  return (
    <div class="actions">
      <input
        placeholder="reason"
        aria-label={`reason for the vote on ${proposal.id}`}
        value={reason}
        onInput={(e) => setReason(e.currentTarget.value)}
      />
      <button disabled={action.busy} onClick={() => vote('approve')}>
        Approve
      </button>
      <button class="danger" disabled={action.busy} onClick={() => vote('reject')}>
        Reject
      </button>
      <ErrorLine error={action.error} />
    </div>
  );
}

function ProposalCard({ p, onChange }: { p: Proposal; onChange: (p: Proposal) => void }) {
  return (
    <div class="proposal" data-proposal={p.id} data-state={p.state}>
      <p>
        <Tag kind={STATE_KIND[p.state]}>{p.state}</Tag>{' '}
        <a href={href('decisions', { address: p.address })}>
          {p.subject} v{p.version}
        </a>{' '}
        · quorum {p.quorum.count} of {p.quorum.roles.join(', ')} · proposed by {p.proposer.agent} ({p.proposer.role}) on{' '}
        <PeerId id={p.proposer.node} /> <Time at={p.createdAt} />
        {p.decidedAt ? (
          <>
            {' '}
            · decided <Time at={p.decidedAt} />
          </>
        ) : null}
      </p>
      {p.reason ? <p class="reason">{p.reason}</p> : null}
      {p.note ? <p class="note">{p.note}</p> : null}
      {p.votes.length === 0 ? (
        <Empty>No votes yet.</Empty>
      ) : (
        <table class="votes">
          <thead>
            <tr>
              <th>voter</th>
              <th>role</th>
              <th>vote</th>
              <th>reason</th>
              <th>when</th>
              <th>signature</th>
            </tr>
          </thead>
          <tbody>
            {p.votes.map((v) => (
              <tr key={`${v.voter.node}${v.at}`}>
                <td>
                  {v.voter.agent} on <PeerId id={v.voter.node} />
                </td>
                <td>{v.voter.role}</td>
                <td>
                  <Tag kind={v.vote === 'approve' ? 'ok' : 'bad'}>{v.vote}</Tag>
                </td>
                <td>{v.reason}</td>
                <td>
                  <Time at={v.at} />
                </td>
                <td>{v.verified ? <Tag kind="ok">verified</Tag> : <Tag kind="bad">not verified</Tag>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {p.state === 'open' ? <VoteForm proposal={p} onVoted={onChange} /> : null}
    </div>
  );
}

function ProposeForm({ onProposed }: { onProposed: (p: Proposal) => void }) {
  const [form, setForm] = useState({ address: '', content: '', roles: '', count: '2', voters: '', reason: '' });
  const action = useAction();
  const set = (key: keyof typeof form) => (e: { currentTarget: { value: string } }) =>
    setForm({ ...form, [key]: e.currentTarget.value });
  const submit = (e: Event): void => {
    e.preventDefault();
    void action.run(async () => {
      const address = formatAddress(parseAddress(form.address.trim()));
      const count = Number(form.count);
      if (!Number.isInteger(count) || count < 1) throw new Error('quorum: a whole number of approvals, at least 1');
      const roles = splitList(form.voters);
      if (!roles.length) throw new Error('quorum: name the roles that vote (e.g. architect, admin)');
      const r = await post<{ proposal: Proposal }>('/v1/ucxl/propose', {
        address,
        content: toBase64(form.content),
        contentType: 'text/markdown',
        roles: splitList(form.roles).length ? splitList(form.roles) : undefined,
        quorum: { count, roles },
        reason: form.reason.trim() || undefined,
      });
      onProposed(r.proposal);
      setForm({ ...form, content: '', reason: '' });
    });
  };
  return (
    <form class="propose" onSubmit={submit}>
      <div class="form-grid">
        <Field label="address" hint="ucxl://agent:role@project:task/*^/path">
          <input name="address" value={form.address} onInput={set('address')} />
        </Field>
        <Field label="readers (--roles)" hint="roles that may read it (default: the writer’s policy)">
          <input name="roles" value={form.roles} onInput={set('roles')} />
        </Field>
        <Field label="quorum (--quorum)" hint="approvals needed">
          <input name="count" type="number" min="1" value={form.count} onInput={set('count')} />
        </Field>
        <Field label="voters (--voters)" hint="roles whose votes count, e.g. architect, admin">
          <input name="voters" value={form.voters} onInput={set('voters')} />
        </Field>
        <Field label="reason (--reason)">
          <input name="reason" value={form.reason} onInput={set('reason')} />
        </Field>
      </div>
      <Field label="content">
        <textarea name="content" value={form.content} onInput={set('content')} />
      </Field>
      <ErrorLine error={action.error} />
      <button type="submit" disabled={action.busy}>
        Propose
      </button>
    </form>
  );
}

export function VotesView({ params }: { params: URLSearchParams }) {
  const [state, setState] = useState('');
  const res = useResource(() => get<Proposal[]>('/v1/ucxl/proposals', { state: state || undefined }), [state]);
  useLive<Proposal>('proposal', (p) => res.set((list) => upsert(list, p)));
  const onChange = (p: Proposal): void => res.set((list) => upsert(list, p));
  const focus = params.get('id');
  const list = (res.data ?? []).filter((p) => !state || p.state === state);
  return (
    <div data-ready={res.data ? 'votes' : undefined}>
      <div class="toolbar">
        <label class="filter">
          state{' '}
          <select name="state" value={state} onChange={(e) => setState(e.currentTarget.value)}>
            <option value="">all</option>
            <option value="open">open</option>
            <option value="accepted">accepted</option>
            <option value="rejected">rejected</option>
          </select>
        </label>
      </div>
      <Section title="Propose a new version">
        <ProposeForm onProposed={onChange} />
      </Section>
      <Section title={`Proposals (${list.length})`}>
        <ErrorLine
          error={
            res.error ? `${res.error}${/no route/.test(res.error) ? ' (this node has no voting)' : ''}` : undefined
          }
        />
        {list.length === 0 && !res.error ? <Empty>No proposals.</Empty> : null}
        {(focus ? [...list.filter((p) => p.id === focus), ...list.filter((p) => p.id !== focus)] : list).map((p) => (
          <ProposalCard key={p.id} p={p} onChange={onChange} />
        ))}
      </Section>
    </div>
  );
}
