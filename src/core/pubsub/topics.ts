// CHORUS topic names: the three static topics and the builders for the dynamic topic families.
import { UsageError } from '../errors.ts';

export const TOPICS = {
  coordination: 'CHORUS/coordination/v1',
  metaDiscussion: 'hmmm/meta-discussion/v1',
  contextFeedback: 'CHORUS/context-feedback/v1',
} as const;

export const STATIC_TOPICS: readonly string[] = Object.values(TOPICS);

const SEGMENT = /^[a-zA-Z0-9_.-]+$/;

function segment(kind: string, value: string): string {
  if (!SEGMENT.test(value)) {
    throw new UsageError(`invalid ${kind} "${value}": use letters, digits, "_", "-" and "."`, 'INVALID_TOPIC');
  }
  return value;
}

export const topicFor = {
  role: (role: string) => `CHORUS/roles/${segment('role', role.toLowerCase())}/v1`,
  expertise: (expertise: string) => `CHORUS/expertise/${segment('expertise', expertise.toLowerCase())}/v1`,
  hierarchy: (supervisor: string) => `CHORUS/hierarchy/${segment('supervisor', supervisor.toLowerCase())}/v1`,
  project: (projectId: string) => `CHORUS/projects/${segment('project id', projectId)}/coordination/v1`,
  issue: (issueId: string) => `CHORUS/meta/issue/${segment('issue id', issueId)}`,
};

export type TopicFamily =
  'coordination' | 'meta' | 'context' | 'role' | 'expertise' | 'hierarchy' | 'project' | 'issue' | 'custom';

/** Classifies a topic name into its family (for metrics and logs). */
export function topicFamily(topic: string): TopicFamily {
  if (topic === TOPICS.coordination) return 'coordination';
  if (topic === TOPICS.metaDiscussion) return 'meta';
  if (topic === TOPICS.contextFeedback) return 'context';
  if (/^CHORUS\/roles\/[^/]+\/v1$/.test(topic)) return 'role';
  if (/^CHORUS\/expertise\/[^/]+\/v1$/.test(topic)) return 'expertise';
  if (/^CHORUS\/hierarchy\/[^/]+\/v1$/.test(topic)) return 'hierarchy';
  if (/^CHORUS\/projects\/[^/]+\/coordination\/v1$/.test(topic)) return 'project';
  if (/^CHORUS\/meta\/issue\/[^/]+$/.test(topic)) return 'issue';
  return 'custom';
}

/** Checks a custom topic name: printable, no whitespace, bounded length. */
export function validateTopic(topic: string): string {
  if (topic.length === 0 || topic.length > 256 || /\s/.test(topic) || !/^[\x21-\x7e]+$/.test(topic)) {
    throw new UsageError(`invalid topic "${topic}": 1–256 printable characters, no spaces`, 'INVALID_TOPIC');
  }
  return topic;
}

/** Per-issue rooms carry raw payloads (their own schema), never the CHORUS envelope. */
export function isRawTopic(topic: string): boolean {
  return topicFamily(topic) === 'issue';
}
