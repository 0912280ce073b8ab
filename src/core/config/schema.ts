// The configuration schema: every key chorus understands, its type, default, environment variable,
// whether SIGHUP reloads it, and its documentation. docs/config.md is generated from this file.
// Size: a flat table of keys, one entry each (it grows by one entry per key).
import { hostname } from 'node:os';
import * as z from 'zod';
import { LOG_LEVELS } from '../log.ts';
import { AGENT_PROVIDERS } from './providers.ts';

export interface KeyMeta {
  description: string;
  /** The CHORUS_* variable that sets this key. */
  env?: string;
  /** True when a running node applies a new value on SIGHUP without a restart. */
  reload?: boolean;
}

/** The host name, cut to what an agent name allows. */
function defaultAgentName(): string {
  const host = hostname()
    .replace(/[^a-zA-Z0-9_.@-]/g, '-')
    .slice(0, 64);
  return host || 'agent';
}

const key = <T extends z.ZodType>(schema: T, meta: KeyMeta): T => schema.meta({ ...meta });

const portRange = z.number().int().min(0).max(65535);

export const redactionRuleSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9_.-]+$/i, 'rule names use letters, digits, "_", "-" and "."'),
  pattern: z.string().min(1),
  flags: z
    .string()
    .regex(/^[imsu]*$/, 'regex flags may only be i, m, s, u')
    .default(''),
  severity: z.enum(['low', 'medium', 'high', 'critical']).default('high'),
  tags: z.array(z.string()).default([]),
  action: z.enum(['redact', 'deny']).default('redact'),
});

export const configSchema = z.strictObject({
  dataDir: key(z.string().min(1), {
    description: 'Directory holding the node identity, event log, API socket and token. Default: ~/.chorus.',
    env: 'CHORUS_DATA_DIR',
  }),
  log: z
    .strictObject({
      level: key(z.enum(LOG_LEVELS).default('info'), {
        description: 'Least severe level written to stderr.',
        env: 'CHORUS_LOG_LEVEL',
        reload: true,
      }),
      format: key(z.enum(['text', 'json']).default('text'), {
        description: 'Log line format: readable text, or one JSON object per line.',
        env: 'CHORUS_LOG_FORMAT',
        reload: true,
      }),
    })
    .prefault({}),
  p2p: z
    .strictObject({
      listen: key(z.array(z.string().min(1)).default(['/ip4/0.0.0.0/tcp/9000']), {
        description: 'Multiaddrs the node listens on.',
        env: 'CHORUS_LISTEN',
      }),
      bootstrap: key(z.array(z.string().min(1)).default([]), {
        description: 'Multiaddrs (with /p2p/<peer-id>) of peers to join at start; retried with backoff.',
        env: 'CHORUS_BOOTSTRAP_PEERS',
        reload: true,
      }),
      joinStaggerMs: key(z.number().int().min(0).default(0), {
        description:
          'Random delay up to this many ms before the first bootstrap dial, so a fleet does not dial at once.',
        env: 'CHORUS_JOIN_STAGGER_MS',
        reload: true,
      }),
      mdns: key(z.boolean().default(true), {
        description: 'Discover peers on the local network with mDNS.',
        env: 'CHORUS_MDNS',
      }),
      maxConnections: key(z.number().int().min(1).default(300), {
        description: 'Most open connections; beyond it the least valuable are closed.',
        env: 'CHORUS_MAX_CONNECTIONS',
        reload: true,
      }),
      maxPeersPerIp: key(z.number().int().min(1).default(64), {
        description: 'Most connections accepted from one remote IP (loopback and NAT clusters need more than 1).',
        env: 'CHORUS_MAX_PEERS_PER_IP',
        reload: true,
      }),
      inboundPerSecond: key(z.number().int().min(1).default(50), {
        description: 'Most inbound connection attempts accepted per second from one remote IP.',
        env: 'CHORUS_INBOUND_PER_SECOND',
      }),
    })
    .prefault({}),
  agent: z
    .strictObject({
      role: key(
        z
          .string()
          .regex(/^[a-zA-Z0-9_-]+$/)
          .default('developer'),
        {
          description:
            'This node’s role: selects the role topic it joins and which role-addressed messages it receives.',
          env: 'CHORUS_ROLE',
          reload: true,
        },
      ),
      expertise: key(z.array(z.string().regex(/^[a-zA-Z0-9_.-]+$/)).default([]), {
        description: 'Expertise areas; one expertise topic is joined for each.',
        env: 'CHORUS_EXPERTISE',
        reload: true,
      }),
      reportsTo: key(z.array(z.string().regex(/^[a-zA-Z0-9_.-]+$/)).default([]), {
        description: 'Supervisors; the hierarchy topic of each is joined.',
        env: 'CHORUS_REPORTS_TO',
        reload: true,
      }),
      capabilities: key(z.array(z.string().min(1)).default([]), {
        description: 'Capabilities announced to peers (capability broadcast).',
        env: 'CHORUS_CAPABILITIES',
        reload: true,
      }),
      maxTasks: key(z.number().int().min(0).default(3), {
        description: 'Tasks this node accepts at once (announced in availability broadcasts).',
        env: 'CHORUS_MAX_TASKS',
        reload: true,
      }),
      name: key(
        z
          .string()
          .regex(/^[a-zA-Z0-9_.@-]{1,64}$/)
          .default(defaultAgentName()),
        {
          description:
            'The name this node acts under in tasks (creator, owner) when a verb gives none (`--as`). Default: the host name.',
          env: 'CHORUS_AGENT_NAME',
          reload: true,
        },
      ),
      // ---- the agent that does claimed work (chorus agent; in the daemon with agent.enabled) ----
      enabled: key(z.boolean().default(false), {
        description:
          'Run the agent inside `chorus node`: it claims matching tasks and does them with agent.provider (docs/agents.md). `chorus agent` runs the same agent next to a node.',
        env: 'CHORUS_AGENT_ENABLED',
      }),
      provider: key(z.enum(AGENT_PROVIDERS).default('exec'), {
        description:
          'What does the work: exec (a command line: the prompt on stdin, the result on stdout), ollama (the Ollama chat API) or openai (any OpenAI-compatible /v1/chat/completions server).',
        env: 'CHORUS_AGENT_PROVIDER',
      }),
      command: key(z.array(z.string().min(1)).default([]), {
        description:
          'exec: the program and its arguments, e.g. ["claude", "-p", "--output-format", "text"] (`chorus agent -- claude -p …`).',
        env: 'CHORUS_AGENT_COMMAND',
      }),
      model: key(z.string().default(''), {
        description: 'ollama/openai: the model to ask (required for them); exec: only announced.',
        env: 'CHORUS_AGENT_MODEL',
      }),
      baseUrl: key(z.string().default(''), {
        description:
          'ollama/openai: the server. Default: http://127.0.0.1:11434 (ollama), http://127.0.0.1:8080/v1 (openai; /chat/completions is appended).',
        env: 'CHORUS_AGENT_BASE_URL',
      }),
      apiKeyEnv: key(z.string().default('OPENAI_API_KEY'), {
        description:
          'openai: the environment variable holding the API key (sent as a bearer token, never logged). Empty value or unset: no key.',
        env: 'CHORUS_AGENT_API_KEY_ENV',
      }),
      apiKeyFile: key(z.string().default(''), {
        description:
          'openai: a file holding the API key instead (must be mode 0600 or stricter); takes precedence over agent.apiKeyEnv.',
        env: 'CHORUS_AGENT_API_KEY_FILE',
      }),
      maxConcurrent: key(z.number().int().min(1).max(64).default(1), {
        description: 'Tasks the agent works on at once (announced to peers).',
        env: 'CHORUS_AGENT_MAX_CONCURRENT',
      }),
      taskTimeoutMs: key(z.number().int().min(100).default(1_800_000), {
        description:
          'Longest one task may run; then the provider is stopped (exec: its whole process group is killed) and the task fails.',
        env: 'CHORUS_AGENT_TASK_TIMEOUT_MS',
      }),
      outputCapBytes: key(z.number().int().min(1024).max(716_800).default(524_288), {
        description:
          'Most bytes of provider output kept as a task’s result (and of exec stderr logged); the rest is dropped and the result says so. At most 700 KiB: a result is a decision, whose encrypted record holds at most 1 MiB.',
        env: 'CHORUS_AGENT_OUTPUT_CAP_BYTES',
      }),
      workDir: key(z.string().default(''), {
        description:
          'Where each task gets a fresh working directory (removed afterwards unless agent.keep). Default: <dataDir>/agent-work.',
        env: 'CHORUS_AGENT_WORK_DIR',
      }),
      keep: key(z.boolean().default(false), {
        description: 'Keep each task’s working directory after the task ends (`--keep`).',
        env: 'CHORUS_AGENT_KEEP',
      }),
      gracePeriodMs: key(z.number().int().min(0).default(10_000), {
        description:
          'On Ctrl-C / SIGTERM the agent takes no more work and lets running tasks finish for this long, then gives them back (failed with requeue, reason "agent stopped") so they reopen at once.',
        env: 'CHORUS_AGENT_GRACE_PERIOD_MS',
      }),
      progressIntervalMs: key(z.number().int().min(100).default(5_000), {
        description:
          'How often a running task reports progress (bytes or tokens produced, the last line); each report also renews the claim.',
        env: 'CHORUS_AGENT_PROGRESS_INTERVAL_MS',
      }),
      backoffMs: key(z.number().int().min(10).default(2_000), {
        description:
          'Pause before taking more work after the provider could not be reached (the task is given back); doubles on each failure in a row, up to 60 s.',
        env: 'CHORUS_AGENT_BACKOFF_MS',
      }),
      personas: key(z.record(z.string().regex(/^[a-zA-Z0-9_-]+$/), z.string().min(1)).default({}), {
        description:
          'Persona file (YAML: `system`, optional `name`, `temperature`) per role, as a JSON object {role: file}. Roles without one use the built-in persona of admin, architect, developer or observer.',
        env: 'CHORUS_AGENT_PERSONAS',
      }),
    })
    .prefault({}),
  tasks: z
    .strictObject({
      claimTtlMs: key(z.number().int().min(1000).default(30_000), {
        description:
          'How long a claim lasts without renewal; an owner that stops renewing (killed, partitioned, hung) loses the task after this long (docs/tasks.md).',
        env: 'CHORUS_TASK_CLAIM_TTL_MS',
        reload: true,
      }),
      renewIntervalMs: key(z.number().int().min(100).default(10_000), {
        description: 'How often an owner renews its claims (must be well below tasks.claimTtlMs).',
        env: 'CHORUS_TASK_RENEW_INTERVAL_MS',
        reload: true,
      }),
      maxAttempts: key(z.number().int().min(1).max(100).default(3), {
        description:
          'Failed attempts (failures or lapsed claims) after which a task is escalated to a human instead of reopened.',
        env: 'CHORUS_TASK_MAX_ATTEMPTS',
        reload: true,
      }),
      requestTimeoutMs: key(z.number().int().min(100).default(10_000), {
        description: 'Deadline of one task change (through the leader, across a leader change).',
        env: 'CHORUS_TASK_REQUEST_TIMEOUT_MS',
        reload: true,
      }),
      retainMs: key(
        z
          .number()
          .int()
          .min(60_000)
          .default(7 * 24 * 3600_000),
        {
          description:
            'How long completed and cancelled tasks stay on the board; then they are forgotten (unless an unfinished task depends on them). Their result decisions stay.',
          env: 'CHORUS_TASK_RETAIN_MS',
          reload: true,
        },
      ),
    })
    .prefault({}),
  votes: z
    .strictObject({
      requestTimeoutMs: key(z.number().int().min(100).default(10_000), {
        description: 'Deadline of one proposal or vote (through the leader, across a leader change).',
        env: 'CHORUS_VOTE_REQUEST_TIMEOUT_MS',
        reload: true,
      }),
      retainMs: key(
        z
          .number()
          .int()
          .min(60_000)
          .default(90 * 24 * 3600_000),
        {
          description:
            'How long decided proposals (accepted, rejected) keep their votes; then they are forgotten. The decision keeps its versions, and a rejected version stays out of `*^` (docs/decisions.md).',
          env: 'CHORUS_VOTE_RETAIN_MS',
          reload: true,
        },
      ),
    })
    .prefault({}),
  pubsub: z
    .strictObject({
      hopLimit: key(z.number().int().min(0).max(64).default(3), {
        description: 'Messages relayed by the application more than this many times are dropped.',
        env: 'CHORUS_HOP_LIMIT',
        reload: true,
      }),
      meshWaitMs: key(z.number().int().min(0).default(5000), {
        description:
          'How long a first publish waits for subscribers to appear before failing with NoSubscribers. A node connected to no peer and dialling none fails at once, once it has been up this long (its value at start).',
        env: 'CHORUS_MESH_WAIT_MS',
        reload: true,
      }),
      meshDegree: key(z.number().int().min(2).max(12).default(4), {
        description:
          'GossipSub mesh degree D (peers each message is relayed to; Dlo = D-1, Dhi = 2D). Publishers reach every subscriber directly (flood publish), so relays are for peers that are not directly connected.',
        env: 'CHORUS_MESH_DEGREE',
      }),
      availabilityIntervalMs: key(z.number().int().min(100).default(30000), {
        description: 'Interval of the availability broadcast.',
        env: 'CHORUS_AVAILABILITY_INTERVAL_MS',
      }),
    })
    .prefault({}),
  api: z
    .strictObject({
      tcpPort: key(portRange.default(0), {
        description: 'Also serve the control API on this TCP port (bearer token required). 0 disables it.',
        env: 'CHORUS_API_PORT',
      }),
      tcpHost: key(z.string().default('127.0.0.1'), {
        description: 'Address for the TCP control API. A non-loopback address also needs api.allowRemote.',
        env: 'CHORUS_API_HOST',
      }),
      allowRemote: key(z.boolean().default(false), {
        description: 'Permit api.tcpHost to be a non-loopback address (the token is still required).',
        env: 'CHORUS_API_ALLOW_REMOTE',
      }),
    })
    .prefault({}),
  ops: z
    .strictObject({
      enabled: key(z.boolean().default(true), {
        description:
          'Run the health checks and serve /healthz, /readyz, /health and /metrics (docs/metrics.md) over HTTP.',
        env: 'CHORUS_OPS_ENABLED',
        reload: true,
      }),
      host: key(z.string().min(1).default('127.0.0.1'), {
        description: 'Address of the ops HTTP listener. A non-loopback address also needs ops.allowRemote.',
        env: 'CHORUS_OPS_HOST',
        reload: true,
      }),
      port: key(portRange.default(9464), {
        description:
          'Port of the ops HTTP listener; 0 picks a free port (shown by `chorus status`). Several nodes on one host need one port each (or 0).',
        env: 'CHORUS_OPS_PORT',
        reload: true,
      }),
      allowRemote: key(z.boolean().default(false), {
        description: 'Permit ops.host to be a non-loopback address (the endpoints are read-only and unauthenticated).',
        env: 'CHORUS_OPS_ALLOW_REMOTE',
        reload: true,
      }),
      checkIntervalMs: key(z.number().int().min(100).default(15_000), {
        description: 'How often the health checks (peers, pubsub probe, DHT probe, …) run.',
        env: 'CHORUS_OPS_CHECK_INTERVAL_MS',
        reload: true,
      }),
      checkTimeoutMs: key(z.number().int().min(50).default(5_000), {
        description: 'Deadline of one health check run; a check that takes longer fails.',
        env: 'CHORUS_OPS_CHECK_TIMEOUT_MS',
        reload: true,
      }),
    })
    .prefault({}),
  assign: z
    .strictObject({
      url: key(z.string().default(''), {
        description:
          'Assignment server (http/https URL): at start and on SIGHUP the node fetches its role, expertise, bootstrap peers and join stagger from it (docs/deploy.md). Empty: no assignment.',
        env: 'CHORUS_ASSIGN_URL',
        reload: true,
      }),
      timeoutMs: key(z.number().int().min(100).default(5_000), {
        description: 'Deadline of one assignment fetch.',
        env: 'CHORUS_ASSIGN_TIMEOUT_MS',
        reload: true,
      }),
    })
    .prefault({}),
  dht: z
    .strictObject({
      replication: key(z.number().int().min(3).max(5).default(3), {
        description:
          'Peers that must confirm storing each decision record (3–5); a PUT with fewer fails (a lone node — the only voter of its cluster, connected to nobody — keeps its decisions on itself).',
        env: 'CHORUS_REPLICATION',
      }),
      republishIntervalMs: key(z.number().int().min(1000).default(3_600_000), {
        description:
          'How often held decision records are re-put so they stay on enough live peers (a record this node stored within the last interval, by a write or another holder’s re-put, is skipped unless that write or re-put fell short of its holders; the first pass falls 0.5–1.5 intervals after start).',
        env: 'CHORUS_REPUBLISH_INTERVAL_MS',
      }),
      timeoutMs: key(z.number().int().min(100).default(10_000), {
        description: 'Deadline of one DHT read or write.',
        env: 'CHORUS_DHT_TIMEOUT_MS',
        reload: true,
      }),
    })
    .prefault({}),
  keys: z
    .strictObject({
      keyring: key(z.string().default(''), {
        description:
          'Role keyring file (age keys per role). Default: <dataDir>/keyring.json, created with keys for every policy role; share it across the cluster (docs/keys.md).',
        env: 'CHORUS_KEYRING',
      }),
      policy: key(
        z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/), z.array(z.string())).default({
          admin: ['*'],
          architect: ['architect', 'developer', 'observer'],
          developer: ['developer'],
          observer: ['observer'],
        }),
        {
          description: 'Which roles can read decisions meant for which roles ("*" = all), as a JSON object.',
          env: 'CHORUS_ROLE_POLICY',
        },
      ),
    })
    .prefault({}),
  eventLog: z
    .strictObject({
      sync: key(z.enum(['normal', 'full']).default('normal'), {
        description:
          'Event-log durability: normal survives kill -9 and process crashes (WAL); full also fsyncs every entry to survive power loss, at ~3x the cost.',
        env: 'CHORUS_EVENT_LOG_SYNC',
      }),
      maxAgeDays: key(z.number().min(0).default(90), {
        description:
          'Event-log retention by age: entries older than this many days are removed (checked every minute; 0 keeps them forever). A signed checkpoint at the cut keeps `chorus log verify` proving every kept entry.',
        env: 'CHORUS_EVENT_LOG_MAX_AGE_DAYS',
        reload: true,
      }),
      maxSizeMb: key(z.number().min(0).default(1024), {
        description:
          'Event-log retention by size: when the log holds more than this many MiB, the oldest entries are removed down to 90 % of it (0: no size limit). Freed space is reused; `chorus log compact` gives it back to the file system.',
        env: 'CHORUS_EVENT_LOG_MAX_SIZE_MB',
        reload: true,
      }),
      peerRateLimit: key(z.number().int().min(0).default(600), {
        description:
          'Received messages per peer per minute logged one by one; beyond it they are counted, one `rate_limited` entry per peer and minute (0: no limit). Delivery is not affected.',
        env: 'CHORUS_EVENT_LOG_PEER_RATE_LIMIT',
        reload: true,
      }),
    })
    .prefault({}),
  election: z
    .strictObject({
      voters: key(z.array(z.string().min(1)).default([]), {
        description:
          'Peer IDs of the voters (the same list on every node). Empty: the voter set is formed by bootstrap (election.expect). A node not in the set follows as an observer.',
        env: 'CHORUS_ELECTION_VOTERS',
      }),
      expect: key(z.number().int().min(1).default(1), {
        description:
          'Bootstrap (when election.voters is empty): wait until exactly this many voter candidates with the same value are connected, then commit them as the voter set (persisted). 1: a lone node leads its own single-voter cluster. See docs/election.md.',
        env: 'CHORUS_ELECTION_EXPECT',
      }),
      heartbeatMs: key(z.number().int().min(10).default(250), {
        description: 'Interval of the leader’s heartbeats.',
        env: 'CHORUS_ELECTION_HEARTBEAT_MS',
      }),
      electionTimeoutMinMs: key(z.number().int().min(50).default(1000), {
        description:
          'Lower bound of the randomized election timeout (no heartbeat for this long → campaign). Also bounds the leader lease.',
        env: 'CHORUS_ELECTION_TIMEOUT_MIN_MS',
      }),
      electionTimeoutMaxMs: key(z.number().int().min(100).default(2000), {
        description: 'Upper bound of the randomized election timeout; a better score draws closer to the lower bound.',
        env: 'CHORUS_ELECTION_TIMEOUT_MAX_MS',
      }),
      stabilityWindowMs: key(z.number().int().min(0).default(30_000), {
        description: 'Minimum time in office before a leader voluntarily hands over to a much better-scored voter.',
        env: 'CHORUS_ELECTION_STABILITY_WINDOW_MS',
      }),
      handoverMargin: key(z.number().min(0).max(1).default(0.25), {
        description: 'Score advantage (0–1) a voter needs over the leader for a voluntary hand-over.',
        env: 'CHORUS_ELECTION_HANDOVER_MARGIN',
      }),
      preVote: key(z.boolean().default(true), {
        description:
          'Run a pre-vote before campaigning, so a node returning from a partition cannot depose a healthy leader.',
        env: 'CHORUS_ELECTION_PRE_VOTE',
      }),
      weights: z
        .strictObject({
          uptime: key(z.number().min(0).max(1).default(0.3), {
            description: 'Score weight of uptime (full at 1 h).',
            env: 'CHORUS_ELECTION_WEIGHT_UPTIME',
          }),
          capabilities: key(z.number().min(0).max(1).default(0.2), {
            description: 'Score weight of announced capabilities (full at 4).',
            env: 'CHORUS_ELECTION_WEIGHT_CAPABILITIES',
          }),
          resources: key(z.number().min(0).max(1).default(0.2), {
            description: 'Score weight of free memory and spare CPU.',
            env: 'CHORUS_ELECTION_WEIGHT_RESOURCES',
          }),
          network: key(z.number().min(0).max(1).default(0.2), {
            description: 'Score weight of network quality (share of the other voters connected).',
            env: 'CHORUS_ELECTION_WEIGHT_NETWORK',
          }),
          experience: key(z.number().min(0).max(1).default(0.1), {
            description: 'Score weight of experience (terms led, full at 10).',
            env: 'CHORUS_ELECTION_WEIGHT_EXPERIENCE',
          }),
        })
        .prefault({}),
    })
    .prefault({}),
  license: z
    .strictObject({
      file: key(z.string().default(''), {
        description:
          'This node’s license file: its node certificate (`chorus license enroll`), or the license itself with license.licenseeKey. Default: <dataDir>/license.json. Without a valid license the node opens no socket.',
        env: 'CHORUS_LICENSE_FILE',
      }),
      authority: key(
        z.array(z.string().regex(/^ed25519:[A-Za-z0-9_-]{43}$/, 'an authority key: ed25519:<base64url>')).default([]),
        {
          description: 'Public keys of the license authorities this node trusts (`chorus license keygen` prints one).',
          env: 'CHORUS_LICENSE_AUTHORITY',
        },
      ),
      clusterId: key(z.string().default(''), {
        description:
          'The cluster this node belongs to; its license must be for it. Default: the cluster named by the license.',
        env: 'CHORUS_CLUSTER_ID',
      }),
      dev: key(z.boolean().default(false), {
        description:
          'Development mode (`chorus node --dev`): create a local dev authority and license once and use them. Dev licenses admit only peers of the same dev authority.',
        env: 'CHORUS_DEV',
      }),
      devAuthority: key(z.string().default(''), {
        description:
          'The dev authority key file used by --dev. Default: <dataDir>/dev-authority.key; point several local nodes at one file to let them form a dev cluster (they also share its role keys, derived from it).',
        env: 'CHORUS_DEV_AUTHORITY',
      }),
      licenseeKey: key(z.string().default(''), {
        description:
          'The licensee’s private key file: with it the node certifies itself for the license in license.file. Prefer a node certificate (`chorus license enroll`), which keeps this key off the node.',
        env: 'CHORUS_LICENSEE_KEY',
      }),
      server: key(z.string().default(''), {
        description:
          'URL of the lease server (`chorus license serve`); when set, the node holds a cluster lease while it runs.',
        env: 'CHORUS_LICENSE_SERVER',
      }),
      serverKey: key(
        z
          .string()
          .regex(/^(ed25519:[A-Za-z0-9_-]{43})?$/, 'a key: ed25519:<base64url>')
          .default(''),
        {
          description:
            'The lease server’s public key (printed by `chorus license serve`); its answers must be signed by it. Required with license.server.',
          env: 'CHORUS_LICENSE_SERVER_KEY',
        },
      ),
      leaseTtlMs: key(z.number().int().min(1000).default(60_000), {
        description: 'Lifetime of a cluster lease; the node renews it at a third of this.',
        env: 'CHORUS_LEASE_TTL_MS',
      }),
      gracePeriodMs: key(z.number().int().min(1000).default(3_600_000), {
        description:
          'How long a node keeps running without reaching the lease server, counted from its last successful renewal; then it stops.',
        env: 'CHORUS_LICENSE_GRACE_MS',
      }),
      handshakeTimeoutMs: key(z.number().int().min(100).default(5000), {
        description: 'Deadline for a new peer to prove its license; peers that do not are disconnected.',
        env: 'CHORUS_ADMISSION_TIMEOUT_MS',
      }),
    })
    .prefault({}),
  shhh: z
    .strictObject({
      rules: key(z.array(redactionRuleSchema).default([]), {
        description:
          'Extra redaction rules: {name, pattern, flags, severity, tags, action: redact|deny}. Added to the built-in rules. Patterns run on a linear-time engine (RE2 syntax: lookbehind yes, lookahead and backreferences no; at most 4096 characters, 256 rules), as do the rules of a SHHH policy the leader pushes.',
        reload: true,
      }),
    })
    .prefault({}),
});

export type ChorusConfig = z.output<typeof configSchema>;
export type RedactionRuleConfig = z.output<typeof redactionRuleSchema>;
