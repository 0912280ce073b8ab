import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addressedTo,
  buildEnvelope,
  defaultTopicFor,
  encodeEnvelope,
  envelopeSchema,
  isPlainEnvelope,
  MESSAGE_FAMILIES,
  MESSAGE_TYPES,
  parseEnvelope,
} from '../../src/core/pubsub/messages.ts';
import { isRawTopic, topicFamily, topicFor, TOPICS, validateTopic } from '../../src/core/pubsub/topics.ts';

test('the catalogue has 31 types in 5 families of 6, 7, 10, 5 and 3', () => {
  assert.equal(MESSAGE_TYPES.length, 31);
  assert.equal(new Set(MESSAGE_TYPES).size, 31);
  assert.deepEqual(
    Object.values(MESSAGE_FAMILIES).map((f) => f.length),
    [6, 7, 10, 5, 3],
  );
  assert.equal(defaultTopicFor('TaskClaim'), TOPICS.coordination);
  assert.equal(defaultTopicFor('MentorshipRequest'), TOPICS.metaDiscussion);
  assert.equal(defaultTopicFor('SlurpEventAck'), TOPICS.metaDiscussion);
  assert.equal(defaultTopicFor('ContextUsage'), TOPICS.contextFeedback);
});

test('envelopes carry the routing fields and round-trip through bytes', () => {
  const env = buildEnvelope(
    'WorkAllocation',
    'peer1',
    { task: 'x' },
    {
      fromRole: 'architect',
      toRoles: ['developer'],
      requiredExpertise: ['go'],
      projectId: 'p-1',
      priority: 'urgent',
      threadId: 't-9',
      hopCount: 1,
    },
    new Date('2026-01-01T00:00:00Z'),
  );
  assert.deepEqual(env, {
    type: 'WorkAllocation',
    from: 'peer1',
    timestamp: '2026-01-01T00:00:00.000Z',
    data: { task: 'x' },
    hop_count: 1,
    from_role: 'architect',
    to_roles: ['developer'],
    required_expertise: ['go'],
    project_id: 'p-1',
    priority: 'urgent',
    thread_id: 't-9',
  });
  const back = parseEnvelope(encodeEnvelope(env));
  assert.ok(back.ok);
  assert.deepEqual(back.envelope, env);
});

test('bad types, priorities and fields are refused with the field named', () => {
  assert.throws(() => buildEnvelope('TaskTeleport', 'p', {}), /unknown message type "TaskTeleport"/);
  assert.throws(() => buildEnvelope('TaskClaim', 'p', {}, { priority: 'asap' }), /invalid priority "asap"/);
  assert.throws(() => buildEnvelope('TaskClaim', 'p', {}, { toRoles: ['bad role'] }), /to_roles/);
  const parsed = parseEnvelope(new TextEncoder().encode('{"type":"TaskClaim"}'));
  assert.equal(parsed.ok, false);
  assert.equal(parseEnvelope(new TextEncoder().encode('not json')).ok, false);
});

test('parseEnvelope gives what the schema gives, field by field, whether or not its fast check takes the envelope', () => {
  const full = {
    ...buildEnvelope(
      'TaskClaim',
      'peer1',
      { task: 'x', n: [1, { a: null }] },
      {
        fromRole: 'architect',
        toRoles: ['developer', 'qa'],
        requiredExpertise: ['go'],
        projectId: 'p-1',
        priority: 'high',
        threadId: 't-9',
        hopCount: 2,
      },
    ),
    ack: true,
  };
  // an envelope as chorus publishes it takes the fast check
  assert.ok(isPlainEnvelope(JSON.parse(JSON.stringify(full))));
  assert.ok(isPlainEnvelope(JSON.parse(JSON.stringify(buildEnvelope('TaskClaim', 'p', {})))));
  const candidates: Record<string, unknown[]> = {
    type: ['TaskClaim', 'TaskTeleport', '', 7, null, ['TaskClaim']],
    from: ['x', '', 1, null],
    timestamp: [
      '2026-12-03T16:00:00.000Z',
      '2026-12-03T16:00:00Z',
      '2026-12-03T16:00:00.000+01:00',
      '2026-02-30T16:00:00.000Z',
      '2024-02-29T23:59:59.999Z',
      '2026-13-03T16:00:00.000Z',
      '0000-01-01T00:00:00.000Z',
      '2026-12-03 16:00:00.000Z',
      '2026-12-03T16:00:00.000z',
      'yesterday',
      0,
    ],
    data: [{}, { a: 1 }, JSON.parse('{"__proto__":{"polluted":1},"b":2}'), [], null, 'x', 1],
    hop_count: [0, 3, -1, 1.5, 2 ** 60, '1', null, true],
    from_role: ['dev', 'a.b-c_d', 'bad role', '', 3, null],
    to_roles: [[], ['a'], ['a', 'b c'], 'a', [1], null],
    required_expertise: [['go'], [''], {}],
    project_id: ['p', 'p/1', ''],
    priority: ['low', 'urgent', 'URGENT', 'asap', 1],
    thread_id: ['t', '', 'x'.repeat(256), 'x'.repeat(257), 5],
    ack: [true, false, 'true', 1, null],
  };
  const variants: unknown[] = [full, {}, [], null, 'x', 1, { ...full, extra: 1 }, { extra: 1, ...full }];
  variants.push(Object.fromEntries(Object.entries(full).reverse()));
  // the required fields in order, two optional ones swapped: the schema's output puts them back in its order
  const { hop_count: hops, ack, ...rest } = full;
  variants.push({ ...rest, ack, hop_count: hops });
  variants.push(JSON.parse(`{"__proto__":{"x":1},${JSON.stringify(full).slice(1)}`));
  for (const [field, values] of Object.entries(candidates)) {
    const { [field]: _dropped, ...without } = full as Record<string, unknown>;
    variants.push(without);
    for (const value of values) variants.push({ ...full, [field]: value });
  }
  let fast = 0;
  for (const variant of variants) {
    const bytes = new TextEncoder().encode(JSON.stringify(variant));
    const got = parseEnvelope(bytes);
    const want = envelopeSchema.safeParse(JSON.parse(JSON.stringify(variant)));
    const label = JSON.stringify(variant).slice(0, 160);
    assert.equal(got.ok, want.success, label);
    if (got.ok && want.success) {
      // the same fields, values and order as the schema's output
      assert.equal(JSON.stringify(got.envelope), JSON.stringify(want.data), label);
      assert.deepEqual(got.envelope, want.data, label);
      if (isPlainEnvelope(JSON.parse(new TextDecoder().decode(bytes)))) fast++;
    }
  }
  assert.ok(fast > 20, `the fast check took ${fast} of the valid variants`);
});

test('to_roles addressing: empty means everyone, otherwise case-insensitive membership', () => {
  assert.equal(addressedTo({}, 'developer'), true);
  assert.equal(addressedTo({ to_roles: [] }, 'developer'), true);
  assert.equal(addressedTo({ to_roles: ['Architect'] }, 'architect'), true);
  assert.equal(addressedTo({ to_roles: ['architect'] }, 'developer'), false);
});

test('topic builders, families and validation', () => {
  assert.equal(topicFor.role('Developer'), 'CHORUS/roles/developer/v1');
  assert.equal(topicFor.project('p-42'), 'CHORUS/projects/p-42/coordination/v1');
  assert.equal(topicFor.issue('42'), 'CHORUS/meta/issue/42');
  assert.equal(topicFamily('CHORUS/expertise/go/v1'), 'expertise');
  assert.equal(topicFamily('CHORUS/hierarchy/lead/v1'), 'hierarchy');
  assert.equal(topicFamily('my/custom'), 'custom');
  assert.equal(isRawTopic('CHORUS/meta/issue/7'), true);
  assert.equal(isRawTopic(TOPICS.coordination), false);
  assert.throws(() => topicFor.role('a/b'), /invalid role/);
  assert.throws(() => validateTopic('has space'), /invalid topic/);
  assert.throws(() => validateTopic(''), /invalid topic/);
});
