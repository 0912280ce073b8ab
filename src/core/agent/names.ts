// The providers an agent can use, by name (docs/agents.md). Kept apart so the CLI's verb table and the
// config schema share the list without loading any provider.
export const AGENT_PROVIDERS = ['exec', 'ollama', 'openai'] as const;
export type AgentProviderName = (typeof AGENT_PROVIDERS)[number];
