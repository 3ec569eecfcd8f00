import { useEffect, useId, useState, type ReactNode } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";
import { ApiError, describe, type CreatedWebhook, type Migration, type Webhook, type WebhookDelivery, type WebhookFormat } from "../api/client";
import { useApi } from "../api/context";
import { ErrorNote } from "../components/ErrorNote";
import { Confirm } from "../components/Modal";
import { useToast } from "../components/Toasts";
import { ago, when } from "../format";
import { useNow } from "../hooks";
import { usePoll } from "../live";
import { covers, useMe } from "../me";
import {
  buildWebhookInput,
  deliveryBadge,
  deliveryLabel,
  emptyWebhookForm,
  eventKinds,
  eventsText,
  formatLabel,
  kindHelp,
  kindLabel,
  kindText,
  lastAnswer,
  looksLikeSlack,
  migrationText,
  nextAttemptText,
  shortUrl,
  withEvent,
  type WebhookForm,
} from "../notifications";

/** The delivery log is read again this often while it is open (no live event carries it). */
const DELIVERIES_POLL_MS = 5000;
const DELIVERIES_LIMIT = 50;

const webhooksKey = ["webhooks"] as const;
export const deliveriesKey = (webhookId: string) => ["webhook-deliveries", webhookId] as const;

/**
 * NotificationsPage is where admins manage the webhooks Drover notifies when something needs a
 * person: the list, each with its delivery log, and the form that adds one.
 */
export function NotificationsPage() {
  const me = useMe();
  useEffect(() => {
    document.title = "Notifications · Drover";
  }, []);
  // Until /auth/me answers the page waits; when it cannot answer, the page shows and Drover refuses what the caller may not do.
  if (me.isPending) return <section className="page muted">Loading…</section>;
  if (me.data && !covers(me.data.role, "admin")) return <AdminsOnly role={me.data.role} />;
  return <Webhooks />;
}

/** AdminsOnly stands in for the page for a caller who is not an admin. */
function AdminsOnly({ role, refusal }: { role?: string; refusal?: string }) {
  return (
    <section className="page">
      <div className="page-head">
        <h1>Notifications</h1>
      </div>
      <div className="empty" data-testid="admins-only">
        <h2>Only admins can manage notifications</h2>
        <p>
          {role ? `You are signed in with the ${role} role. ` : ""}Notification webhooks tell a chat channel or another service when a step fails, waits for a person
          or goes silent, when a rollout pauses and when a migration finishes. Ask an admin to add one for you.
        </p>
        {refusal && <p className="muted small">Drover answered: {refusal}</p>}
        <p>
          <Link to="/">Back to the migrations</Link>
        </p>
      </div>
    </section>
  );
}

function Webhooks() {
  const api = useApi();
  const qc = useQueryClient();
  const list = useQuery({ queryKey: webhooksKey, queryFn: api.listWebhooks });
  const migrations = useQuery({ queryKey: ["migrations", "summaries"], queryFn: api.listMigrationSummaries });
  const [adding, setAdding] = useState(false);
  const [created, setCreated] = useState<CreatedWebhook | null>(null);

  if (list.error instanceof ApiError && list.error.status === 403) return <AdminsOnly refusal={list.error.message} />;
  const ms = migrations.data ?? [];
  const hooks = list.data ?? [];

  return (
    <section className="page">
      <div className="page-head">
        <div>
          <h1>Notifications</h1>
          <p className="muted">
            Drover POSTs to these webhooks when something needs a person: a step failed, waits for someone, went silent or is overdue, a rollout paused, a
            migration finished. Failed deliveries are retried with back-off.
          </p>
        </div>
        {!adding && (
          <button
            type="button"
            className="primary"
            onClick={() => {
              setCreated(null);
              setAdding(true);
            }}
          >
            Add webhook
          </button>
        )}
      </div>
      {created && <SecretBox webhook={created} onDone={() => setCreated(null)} />}
      {adding && (
        <AddWebhook
          migrations={ms}
          migrationsError={migrations.error}
          onCancel={() => setAdding(false)}
          onCreated={(w) => {
            setAdding(false);
            setCreated(w);
            // The list never carries secrets: keep the new webhook without its own.
            const { secret: _secret, ...hook } = w;
            void _secret;
            qc.setQueryData<Webhook[]>(webhooksKey, (old) => (old && !old.some((x) => x.id === hook.id) ? [...old, hook] : old));
            void qc.invalidateQueries({ queryKey: webhooksKey });
          }}
        />
      )}
      <ErrorNote error={list.error} onRetry={() => list.refetch()} />
      {list.isPending && <p className="muted">Loading webhooks…</p>}
      {list.isSuccess && hooks.length === 0 && (
        <div className="empty panel">
          <h2>No webhook yet</h2>
          <p>Add one to hear about failed, waiting, silent and overdue steps, paused rollouts and finished migrations in Slack or any service that takes JSON.</p>
        </div>
      )}
      {hooks.length > 0 && (
        <ul className="webhook-list" aria-label="Webhooks">
          {hooks.map((w) => (
            <WebhookRow key={w.id} webhook={w} migrations={ms} />
          ))}
        </ul>
      )}
    </section>
  );
}

/** SecretBox shows a new webhook's signing secret, which Drover answers only once. */
function SecretBox({ webhook, onDone }: { webhook: CreatedWebhook; onDone: () => void }) {
  const toast = useToast();
  const id = useId();
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      if (!navigator.clipboard) throw new Error("no clipboard");
      await navigator.clipboard.writeText(webhook.secret);
      setCopied(true);
    } catch {
      (document.getElementById(id) as HTMLInputElement | null)?.select();
      toast("error", "The browser does not let the console copy here: the secret is selected, copy it with Ctrl+C.");
    }
  };
  return (
    <div className="panel secret-box" data-testid="webhook-secret">
      <h2>Webhook added: {shortUrl(webhook.url)}</h2>
      <p>
        This is its signing secret. It is <strong>shown only this once</strong>: copy it now, Drover cannot show it again. Each delivery carries a{" "}
        <code>webhook-signature</code> header (with <code>webhook-id</code> and <code>webhook-timestamp</code>) made with this secret, so the receiver can check
        that a notification comes from Drover.
      </p>
      <div className="secret">
        <label htmlFor={id} className="visually-hidden">
          Signing secret
        </label>
        <input id={id} readOnly value={webhook.secret} spellCheck={false} onFocus={(e) => e.currentTarget.select()} />
        <button type="button" onClick={() => void copy()}>
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
      <div className="actions left">
        <button type="button" className="primary" onClick={onDone}>
          Done, I have stored it
        </button>
      </div>
    </div>
  );
}

type InputProps = { id: string; "aria-invalid"?: boolean; "aria-describedby"?: string };

/** Field is a labelled control with its hint, or its error. */
function Field({ label, hint, error, children }: { label: string; hint?: ReactNode; error?: string; children: (p: InputProps) => ReactNode }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>
        <span>{label}</span>
      </label>
      {children({ id, "aria-invalid": error ? true : undefined, "aria-describedby": error || hint ? `${id}-note` : undefined })}
      {error ? (
        <small id={`${id}-note`} className="field-error" role="alert">
          {error}
        </small>
      ) : (
        hint && (
          <small id={`${id}-note`} className="muted">
            {hint}
          </small>
        )
      )}
    </div>
  );
}

/** AddWebhook is the form that adds a webhook; Drover's refusal (a bad URL, an unknown migration) shows beside it. */
function AddWebhook({
  migrations,
  migrationsError,
  onCancel,
  onCreated,
}: {
  migrations: Migration[];
  migrationsError: unknown;
  onCancel: () => void;
  onCreated: (w: CreatedWebhook) => void;
}) {
  const api = useApi();
  const [form, setForm] = useState<WebhookForm>(emptyWebhookForm);
  const [urlError, setUrlError] = useState("");
  const create = useMutation({ mutationFn: api.createWebhook, onSuccess: onCreated });
  const set = <K extends keyof WebhookForm>(k: K, v: WebhookForm[K]) => setForm((f) => ({ ...f, [k]: v }));
  const slackHint = form.format === "json" && looksLikeSlack(form.url);
  const known = migrations.some((m) => m.id === form.migrationId);

  return (
    <form
      className="panel webhook-form"
      aria-label="Add webhook"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        const built = buildWebhookInput(form);
        if ("error" in built) {
          setUrlError(built.error);
          return;
        }
        setUrlError("");
        create.mutate(built.input);
      }}
    >
      <h2>Add webhook</h2>
      <Field
        label="URL"
        error={urlError}
        hint={slackHint ? "This looks like a Slack incoming webhook: choose the Slack format." : "Where Drover POSTs each notification (http or https)."}
      >
        {(p) => (
          <input
            {...p}
            type="url"
            value={form.url}
            placeholder="https://hooks.slack.com/services/…"
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => set("url", e.target.value)}
          />
        )}
      </Field>
      <div className="row">
        <Field label="Format" hint={form.format === "slack" ? 'A Slack-compatible {"text": …}.' : "A JSON Notification: kind, text, migration, candidate, step…"}>
          {(p) => (
            <select {...p} value={form.format} onChange={(e) => set("format", e.target.value as WebhookFormat)}>
              <option value="json">JSON</option>
              <option value="slack">Slack</option>
            </select>
          )}
        </Field>
        <Field label="Migration" hint={migrationsError ? `The migrations cannot be listed: ${describe(migrationsError)}` : undefined}>
          {(p) => (
            <select {...p} value={form.migrationId} onChange={(e) => set("migrationId", e.target.value)}>
              <option value="">All migrations</option>
              {form.migrationId && !known && <option value={form.migrationId}>{form.migrationId}</option>}
              {migrations.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name && m.name !== m.id ? `${m.name} (${m.id})` : m.id}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <fieldset className="group">
        <legend>Events</legend>
        <div className="events" role="group" aria-label="Events">
          {eventKinds.map((k) => (
            <label key={k} className="check-field" title={kindHelp[k]}>
              <input type="checkbox" checked={form.events.includes(k)} onChange={(e) => set("events", withEvent(form.events, k, e.target.checked))} /> {kindLabel[k]}
            </label>
          ))}
        </div>
        <small className="muted">{form.events.length === 0 ? "None checked: every event, also kinds added later." : `Only: ${eventsText(form.events)}.`}</small>
      </fieldset>
      <Field label="Description" hint="Optional, e.g. the channel it posts to.">
        {(p) => <input {...p} value={form.description} placeholder="#migrations in Slack" onChange={(e) => set("description", e.target.value)} />}
      </Field>
      <ErrorNote error={create.error} />
      <div className="actions left">
        <button type="submit" className="primary" disabled={create.isPending}>
          {create.isPending ? "Adding…" : "Add webhook"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** WebhookRow is one webhook: where it posts, what for, its test and delete, and its delivery log once opened. */
function WebhookRow({ webhook: w, migrations }: { webhook: Webhook; migrations: Migration[] }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const short = shortUrl(w.url);

  const test = useMutation({
    mutationFn: () => api.testWebhook(w.id),
    onSuccess: () => {
      toast("ok", `Test notification sent to ${short}; its delivery shows in the log.`);
      setOpen(true);
      void qc.invalidateQueries({ queryKey: deliveriesKey(w.id) });
    },
    onError: (err) => toast("error", `Test failed: ${describe(err)}`),
  });
  const remove = useMutation({
    mutationFn: () => api.deleteWebhook(w.id),
    onSuccess: () => {
      setConfirming(false);
      toast("ok", `Webhook ${short} deleted.`);
      qc.setQueryData<Webhook[]>(webhooksKey, (old) => old?.filter((x) => x.id !== w.id));
      qc.removeQueries({ queryKey: deliveriesKey(w.id) });
      void qc.invalidateQueries({ queryKey: webhooksKey });
    },
    onError: (err) => {
      setConfirming(false);
      toast("error", `Delete failed: ${describe(err)}`);
    },
  });

  return (
    <li className="panel webhook-row" data-webhook={w.id}>
      <div className="webhook-head">
        <code className="webhook-url">{short}</code>
        <span className="badge">{formatLabel[w.format] ?? w.format}</span>
        <span className="spacer" />
        <button type="button" disabled={test.isPending} onClick={() => test.mutate()}>
          {test.isPending ? "Sending…" : "Send test"}
        </button>
        <button type="button" className="danger" onClick={() => setConfirming(true)}>
          Delete…
        </button>
      </div>
      {w.description && <p className="webhook-desc">{w.description}</p>}
      <dl className="meta">
        <div>
          <dt>Migration</dt>
          <dd>{w.migrationId ? <Link to={`/migrations/${encodeURIComponent(w.migrationId)}`}>{migrationText(w.migrationId, migrations)}</Link> : "All migrations"}</dd>
        </div>
        <div>
          <dt>Events</dt>
          <dd>{eventsText(w.events)}</dd>
        </div>
        <div>
          <dt>Added</dt>
          <dd>
            by {w.createdBy || "someone"} <span title={when(w.createdAt)}>{ago(w.createdAt)}</span>
          </dd>
        </div>
      </dl>
      <details className="deliveries" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
        <summary>Delivery log</summary>
        {open && <Deliveries webhookId={w.id} />}
      </details>
      {confirming && (
        <Confirm title="Delete this webhook?" confirmLabel="Delete webhook" danger busy={remove.isPending} onConfirm={() => remove.mutate()} onClose={() => setConfirming(false)}>
          <p>
            Drover stops notifying <code>{short}</code>
            {w.description ? ` (${w.description})` : ""}. Its delivery log is deleted, and deliveries still being retried stop.
          </p>
        </Confirm>
      )}
    </li>
  );
}

/** Deliveries is a webhook's latest deliveries, newest first, read again every few seconds while shown. */
function Deliveries({ webhookId }: { webhookId: string }) {
  const api = useApi();
  const poll = usePoll();
  const log = useQuery({
    queryKey: deliveriesKey(webhookId),
    queryFn: () => api.listWebhookDeliveries(webhookId, DELIVERIES_LIMIT),
    refetchInterval: poll(DELIVERIES_POLL_MS, { evented: false }),
  });
  const rows = log.data ?? [];
  // "next attempt in …" counts down between reads.
  const now = useNow(rows.some((d) => d.status === "retrying"));
  return (
    <div className="delivery-log">
      <ErrorNote error={log.error} onRetry={() => log.refetch()} />
      {log.isPending && <p className="muted">Loading…</p>}
      {log.isSuccess && rows.length === 0 && <p className="muted small">Nothing sent yet. Send a test to try the webhook.</p>}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table className="candidates" aria-label="Deliveries">
            <thead>
              <tr>
                <th>When</th>
                <th>Kind</th>
                <th>Notification</th>
                <th>Status</th>
                <th>Attempts</th>
                <th>Last answer</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <DeliveryRow key={d.id} d={d} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {rows.length >= DELIVERIES_LIMIT && <p className="muted small">The latest {DELIVERIES_LIMIT} deliveries.</p>}
    </div>
  );
}

function DeliveryRow({ d, now }: { d: WebhookDelivery; now: number }) {
  const m = d.migrationId ? encodeURIComponent(d.migrationId) : "";
  const to = m && d.candidateId ? `/migrations/${m}/candidates/${encodeURIComponent(d.candidateId)}` : m && d.rolloutId ? `/migrations/${m}/rollouts/${encodeURIComponent(d.rolloutId)}` : "";
  const answer = lastAnswer(d);
  return (
    <tr data-delivery={d.id} data-status={d.status}>
      <td className="small" title={when(d.createdAt)}>
        {ago(d.createdAt, now)}
      </td>
      <td>{kindText(d.kind)}</td>
      <td className="delivery-text">{to ? <Link to={to}>{d.text}</Link> : d.text}</td>
      <td>
        <span className={`badge ${deliveryBadge[d.status] ?? ""}`} title={d.status === "delivered" && d.deliveredAt ? `Delivered ${when(d.deliveredAt)}` : undefined}>
          {deliveryLabel[d.status] ?? d.status}
        </span>
        {d.status === "retrying" && d.nextAttemptAt && <div className="muted small">{nextAttemptText(d.nextAttemptAt, now)}</div>}
      </td>
      <td>{d.attempts}</td>
      <td className={`small${d.status === "failed" ? " field-error" : ""}`}>{answer || <span className="muted">—</span>}</td>
    </tr>
  );
}
