// The providers an agent can use, by name (docs/agents.md). A configuration fact (agent.provider), kept apart
// so the CLI's verb table, the config schema and the agent share the list without loading any provider.
export const AGENT_PROVIDERS = ['exec', 'ollama', 'openai'] as const;
export type AgentProviderName = (typeof AGENT_PROVIDERS)[number];
