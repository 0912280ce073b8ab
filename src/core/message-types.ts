// The CHORUS message catalogue: 31 message types in 5 families, by name. The one list of them:
// pubsub/messages.ts validates envelopes against it and eventlog/types.ts maps it to log types.
// A leaf module (no imports), so the event log can use it without the pubsub layer.
export const MESSAGE_FAMILIES = {
  coordination: [
    'TaskAnnouncement',
    'TaskClaim',
    'TaskProgress',
    'TaskComplete',
    'CapabilityBcast',
    'AvailabilityBcast',
  ],
  metaDiscussion: [
    'MetaDiscussion',
    'TaskHelpRequest',
    'TaskHelpResponse',
    'CoordinationRequest',
    'CoordinationComplete',
    'DependencyAlert',
    'EscalationTrigger',
  ],
  roleCollaboration: [
    'RoleAnnouncement',
    'ExpertiseRequest',
    'ExpertiseResponse',
    'StatusUpdate',
    'WorkAllocation',
    'RoleCollaboration',
    'MentorshipRequest',
    'MentorshipResponse',
    'ProjectUpdate',
    'DeliverableReady',
  ],
  contextFeedback: ['FeedbackEvent', 'ContextRequest', 'ContextResponse', 'ContextUsage', 'ContextRelevance'],
  slurp: ['SlurpEventGenerated', 'SlurpEventAck', 'SlurpContextUpdate'],
} as const;

export type MessageFamily = keyof typeof MESSAGE_FAMILIES;
export type MessageType = (typeof MESSAGE_FAMILIES)[MessageFamily][number];
export const MESSAGE_TYPES: readonly MessageType[] = Object.values(MESSAGE_FAMILIES).flat();
