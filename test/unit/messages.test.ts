import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addressedTo,
  buildEnvelope,
  defaultTopicFor,
  encodeEnvelope,
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
