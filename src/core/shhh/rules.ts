// SHHH's built-in secret detectors, run by V8's regex engine (configured rules run on a linear-time engine:
// configured.ts). Every pattern is compiled once, is global, and avoids nested quantifiers over overlapping
// classes so a scan stays linear in the input (several need lookaround or a backreference, which RE2 lacks;
// on V8 they are also several times faster); rules that replace only part of a match name the group.

export type Severity = 'low' | 'medium' | 'high' | 'critical';

/** What a finding reports about the rule that made it. */
export interface RuleInfo {
  name: string;
  severity: Severity;
  tags: string[];
  action: 'redact' | 'deny';
}

export interface RedactionRule extends RuleInfo {
  /** Always has the `g` flag. */
  pattern: RegExp;
  /** capture group holding the secret (default 0 = whole match); e.g. for key=value only the value is replaced */
  group?: number;
}

function rule(
  name: string,
  pattern: RegExp,
  severity: Severity,
  tags: string[],
  group?: number,
): Readonly<RedactionRule> {
  return Object.freeze(
    group === undefined
      ? { name, pattern, severity, tags, action: 'redact' as const }
      : { name, pattern, severity, tags, action: 'redact' as const, group },
  );
}

// --- key = value -----------------------------------------------------------------------------------
// A key whose name ends in a secret word (db_password, GITHUB_TOKEN, clientSecret, x-api-key…) followed
// by `=`, `:`, `:=` or `=>`; only the value is replaced. Pagination tokens are not secrets.
const KV_KEY = String.raw`(?:pass(?:word|wd|phrase)|(?<=[_;-])pwd|secret|(?<!(?:page|next|sync|continuation)[_-]?)token|(?:api|access|auth|secret|private|signing|encryption|master|account|client)[_-]?key|credentials?)`;
const KV_QUOTE = String.raw`(?:\\?["'])?`;
const KV_SEP = String.raw`[ \t]*(?::=?|=>?)[ \t]*`;
/** Values that are references or placeholders, not secrets: null, ${VAR}, {{ x }}, $VAR, <token>, ***, markers. */
const PLACEHOLDER = String.raw`(?!(?:null|nil|none|undefined|true|false)(?![\w-])|\[REDACTED:|\$\{|\{\{|(?-i:\$[A-Z_][A-Z0-9_]*)(?![^\s"',;&)}\]])|<[^<>\s]{1,64}>|%[sdv]|\*{3})`;
/** Characters of an unquoted value. */
const UNQ = String.raw`[^\s"'\x60&,;<>(){}\[\]\\|]`;
/** Unquoted value after `:` or spaces (YAML, headers, prose): `&` allowed, but no `@`, so `token:x@host` stays a URL. */
const UNQA = String.raw`[^\s"'\x60,;<>(){}\[\]\\|@]`;
const KV_VALUE = [
  // inside an escaped JSON string: \"password\":\"hunter2\"
  String.raw`(?<=\\")${PLACEHOLDER}[^"\\\r\n]{1,1024}(?=\\")`,
  // "double quoted" (JSON, YAML, code); bounded, as escaped quotes would let it run to the end of the line
  String.raw`(?<=")${PLACEHOLDER}(?:[^"\\\r\n]|\\.){1,1024}(?=")`,
  // 'single quoted'
  String.raw`(?<=')${PLACEHOLDER}[^'\r\n]{1,1024}(?=')`,
  // key=value with nothing between: query strings, env files, log fields
  String.raw`(?<==)${PLACEHOLDER}(?!=)${UNQ}{3,}`,
  // key: value / key = value — must look like a secret (a digit or symbol, or 16+ chars) and end the
  // field. `(?=(x))\2` takes the run atomically: a shorter run never ends the field, so never backtrack.
  String.raw`(?<=[ \t:>])${PLACEHOLDER}(?=${UNQA}{0,512}[0-9!#$%*+/=?^~]|${UNQA}{16})(?=(${UNQA}{4,512}))\2(?=[ \t]*(?:$|[,;}\]\r\n]|\\[nr]))`,
].join('|');
const KV_SECRET = new RegExp(`${KV_KEY}${KV_QUOTE}${KV_SEP}${KV_QUOTE}(${KV_VALUE})`, 'gid');

/** `--password s3cr3t`, `--api-key abc123…` on a command line. */
const CLI_FLAG = new RegExp(
  String.raw`(?<![\w-])--?(?:[a-z0-9]+-)*(?:password|passwd|passphrase|secret|token|api-?key|access-key|secret-key)[ \t]+(?![-$<{\[*])((?=[^\s"'\x60&;|<>()]{0,512}[0-9!#%*+/=?^~]|[^\s"'\x60&;|<>()]{16})[^\s"'\x60&;|<>()]{4,})`,
  'gid',
);

/**
 * The built-in rules, in priority order: when two rules claim the same text, the earlier one names
 * the finding. Specific provider formats come first, generic shapes (bearer, URL, key=value) last.
 */
export const BUILTIN_RULES: readonly RedactionRule[] = Object.freeze([
  rule(
    'private-key',
    /-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----(?:(?:[^-]|-(?!----))*-----END \1-----|(?:[A-Za-z0-9+/=\s]|\\[nr])*)/g,
    'critical',
    ['credential', 'private-key'],
  ),
  rule('aws-access-key-id', /\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}\b/g, 'high', [
    'credential',
    'aws',
    'cloud',
  ]),
  rule(
    'aws-secret-access-key',
    /(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)(?:\\?["'])?[ \t]*(?::=?|=>?)[ \t]*(?:\\?["'])?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/dgi,
    'critical',
    ['credential', 'aws', 'cloud'],
    1,
  ),
  rule('github-token', /\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{40,251})\b/g, 'high', [
    'credential',
    'github',
    'vcs',
  ]),
  rule('gitlab-token', /\bglpat-[A-Za-z0-9_-]{20,}/g, 'high', ['credential', 'gitlab', 'vcs']),
  rule('anthropic-api-key', /\bsk-ant-[a-z]{2,8}\d{0,3}-[A-Za-z0-9_-]{32,}/g, 'critical', [
    'credential',
    'anthropic',
    'llm',
  ]),
  rule('openai-api-key', /\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}|[A-Za-z0-9]{32,})/g, 'critical', [
    'credential',
    'openai',
    'llm',
  ]),
  rule('stripe-key', /\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,})/g, 'critical', [
    'credential',
    'stripe',
    'payment',
  ]),
  rule('slack-token', /\b(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,}/g, 'high', ['credential', 'slack']),
  rule(
    'slack-webhook',
    /\bhooks\.slack\.com\/(?:services|workflows|triggers)\/([A-Za-z0-9_/-]{10,})/dg,
    'high',
    ['credential', 'slack', 'webhook'],
    1,
  ),
  rule(
    'discord-webhook',
    /\bdiscord(?:app)?\.com\/api\/webhooks\/(\d+\/[A-Za-z0-9_-]{20,})/dg,
    'high',
    ['credential', 'discord', 'webhook'],
    1,
  ),
  rule('google-api-key', /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g, 'high', ['credential', 'google', 'cloud']),
  rule('google-oauth-token', /\bya29\.[0-9A-Za-z_-]{20,}/g, 'high', ['credential', 'google', 'oauth']),
  rule('npm-token', /\bnpm_[A-Za-z0-9]{36}\b/g, 'high', ['credential', 'npm', 'registry']),
  rule('huggingface-token', /\bhf_[A-Za-z0-9]{30,}/g, 'high', ['credential', 'huggingface', 'llm']),
  rule('sendgrid-api-key', /\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g, 'high', [
    'credential',
    'sendgrid',
    'email',
  ]),
  rule(
    'bearer-token',
    /\bbearer[ \t]+((?=[A-Za-z0-9._~+/-]{24}|[A-Za-z._~+/-]{0,64}\d)[A-Za-z0-9._~+/-]{16,}=*)/dgi,
    'high',
    ['credential', 'http', 'auth-header'],
    1,
  ),
  rule(
    'basic-auth',
    /\bBasic[ \t]+((?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2})/dg,
    'high',
    ['credential', 'http', 'auth-header'],
    1,
  ),
  rule('jwt', /\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g, 'high', ['credential', 'jwt']),
  rule(
    'url-password',
    // not ucxl://agent:role@project… — UCXL addresses have the same shape and carry no secret
    /(?<![a-z0-9+.-]*ucxl):\/\/[^\s:/?#@"'<>[\]]{0,128}:(?!\[REDACTED:)([^\s/?#"'<>]{1,256})@/dg,
    'high',
    ['credential', 'url', 'password'],
    1,
  ),
  rule('kv-secret', KV_SECRET, 'high', ['credential', 'key-value'], 1),
  rule('cli-secret-flag', CLI_FLAG, 'high', ['credential', 'cli'], 1),
]);

/**
 * Key names whose whole value is a secret when found in structured data (redactValue): password,
 * client_secret, apiKey, access_token, private_key, authorization, cookie… but not max_tokens,
 * token_count, secret_name or page_token.
 */
export const SECRET_KEY_NAME =
  /(?:pass(?:word|wd|phrase)|[_-]pwd|secret|(?<!(?:page|next|sync|continuation)[_-]?)token|(?:api|access|auth|secret|private|signing|encryption|master|account|client|session)[_-]?key|credentials?|authorization|cookie)$/i;
