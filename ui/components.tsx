// Small building blocks of the views: an error line, times, short ids, tags, sections and form fields.
// Everything a peer supplies is passed as text children (Preact escapes it); nothing sets HTML.
import type { ComponentChildren } from 'preact';

export function ErrorLine({ error }: { error: string | undefined }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

/** "12D3KooW…abcdef" */
export function shortId(id: string | undefined | null): string {
  if (!id) return '—';
  return id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id;
}

export function PeerId({ id }: { id: string | undefined | null }) {
  return (
    <code class="peer" title={id ?? ''}>
      {shortId(id)}
    </code>
  );
}

/** "3 s ago", "5 min ago", "2 h ago", or the date. */
export function ago(iso: string | number | undefined, now = Date.now()): string {
  if (iso === undefined) return '—';
  const t = typeof iso === 'number' ? iso : Date.parse(iso);
  if (Number.isNaN(t)) return '—';
  const s = Math.round((now - t) / 1000);
  if (s < 0) return `in ${duration(-s * 1000)}`;
  if (s < 2) return 'just now';
  return `${duration(s * 1000)} ago`;
}

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

export function Time({ at }: { at: string | number | undefined }) {
  const iso = at === undefined ? '' : new Date(at).toISOString();
  return (
    <time dateTime={iso} title={iso}>
      {ago(at)}
    </time>
  );
}

export function Tag({ kind, children }: { kind?: string; children: ComponentChildren }) {
  return <span class={`tag ${kind ?? ''}`}>{children}</span>;
}

export function Section({
  title,
  children,
  actions,
  id,
}: {
  title: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
  id?: string;
}) {
  return (
    <section class="card" id={id}>
      <header>
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

export function Field({ label, hint, children }: { label: string; hint?: string; children: ComponentChildren }) {
  return (
    <label class="field">
      <span class="label">{label}</span>
      {children}
      {hint ? <span class="hint">{hint}</span> : null}
    </label>
  );
}

/** Comma- or newline-separated text → list (empty entries dropped). */
export function splitList(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}
