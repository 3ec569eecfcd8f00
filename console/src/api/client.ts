import createClient from "openapi-fetch";
import type { components, paths } from "./schema.gen";

export type Schemas = components["schemas"];
export type Migration = Schemas["Migration"];
export type Candidate = Schemas["Candidate"];
export type CandidateStatus = Schemas["CandidateStatus"];
export type StepDefinition = Schemas["StepDefinition"];
export type OverviewPhase = Schemas["OverviewPhase"];
export type FileGroup = Schemas["FileGroup"];
export type FileRef = Schemas["FileRef"];
export type StepState = Schemas["StepState"];
export type RunSteps = Schemas["RunSteps"];
export type RunCancellation = Schemas["RunCancellation"];
export type DryRunResult = Schemas["DryRunResult"];
export type FileDiff = Schemas["FileDiff"];
export type Progress = Schemas["Progress"];
export type StepEventStatus = Schemas["StepEventStatus"];
export type Role = Schemas["Role"];
export type Me = Schemas["Me"];
export type AuditEntry = Schemas["AuditEntry"];
export type AuditPage = Schemas["AuditPage"];
export type Rollout = Schemas["Rollout"];
export type RolloutStatus = Rollout["status"];
export type RolloutMember = Schemas["RolloutMember"];
export type RolloutWave = Schemas["RolloutWave"];
export type RolloutWait = Schemas["RolloutWait"];
export type RolloutWindow = Schemas["RolloutWindow"];
export type RolloutRequest = Schemas["RolloutRequest"];
export type RolloutPreview = Schemas["RolloutPreview"];
export type RetryFailedResult = Schemas["RetryFailedResult"];
export type RunStatus = Schemas["RunStatus"];
export type HistoryEvent = Schemas["HistoryEvent"];
export type HistoryEventKind = Schemas["HistoryEventKind"];
export type HistoryPage = Schemas["HistoryPage"];
export type LiveEvent = Schemas["LiveEvent"];
export type NotificationKind = Schemas["NotificationKind"];
export type Notification = Schemas["Notification"];
export type WebhookFormat = Schemas["WebhookFormat"];
export type WebhookInput = Schemas["WebhookInput"];
export type Webhook = Schemas["Webhook"];
export type CreatedWebhook = Schemas["CreatedWebhook"];
export type WebhookDelivery = Schemas["WebhookDelivery"];
export type WebhookDeliveryStatus = Schemas["WebhookDeliveryStatus"];

/** ApiError is an answer of the API that is not a success, with the server's message for a person. */
export class ApiError extends Error {
  readonly status: number;
  readonly field?: string;
  constructor(status: number, message: string, field?: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.field = field;
  }
}

/** describe turns anything thrown by a request into a sentence an operator can act on. */
export function describe(err: unknown): string {
  if (err instanceof ApiError) {
    const where = err.field && !err.message.includes(err.field) ? ` (${err.field})` : "";
    if (err.status === 401) return `Not logged in or the session expired: ${err.message}`;
    if (err.status === 403) return `Your role may not do this: ${err.message}`;
    if (err.status === 503) return `Drover cannot reach its store or Temporal: ${err.message}`;
    if (err.status === 502 || err.status === 504) return `The migrator failed: ${err.message}`;
    return err.message + where;
  }
  if (err instanceof TypeError) return "Drover did not answer. Is the server running?";
  if (err instanceof Error) return err.message;
  return String(err);
}

type Result<T> = { data?: T; error?: unknown; response: Response };

async function unwrap<T>(p: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await p;
  if (response.ok) return data as T;
  const body = (error ?? {}) as { error?: string; field?: string };
  const message = typeof body.error === "string" && body.error !== "" ? body.error : `${response.status} ${response.statusText}`;
  throw new ApiError(response.status, message, body.field);
}

export type CandidatePage = { items: Candidate[]; total: number };

export type CandidateQuery = {
  status?: CandidateStatus;
  attention?: boolean;
  q?: string;
  offset?: number;
  limit?: number;
};

/** AuditQuery narrows the audit log; before is the next of a previous page (older entries). */
export type AuditQuery = {
  migration?: string;
  candidate?: string;
  actor?: string;
  since?: string;
  before?: string;
  limit?: number;
};

/** HistoryQuery pages a candidate's run history; before is the next of a previous page (older events). */
export type HistoryQuery = {
  before?: string;
  limit?: number;
};

/** Api is the console's typed view of the Drover API (types generated from schemas/openapi.yaml). */
export function makeApi(baseUrl = "", fetchImpl?: typeof fetch) {
  // Drover refuses state changes that are not JSON (a guard against cross-site requests), so
  // every request says it is; a session's state changes carry its CSRF token.
  const c = createClient<paths>({ baseUrl, fetch: fetchImpl, headers: { "Content-Type": "application/json" } });
  let csrf = "";
  c.use({
    onRequest({ request }) {
      if (csrf && request.method !== "GET") request.headers.set("X-CSRF-Token", csrf);
      return request;
    },
  });
  const path = (migrationId: string) => ({ params: { path: { migrationId } } });
  const cpath = (migrationId: string, candidateId: string) => ({ params: { path: { migrationId, candidateId } } });
  const rpath = (migrationId: string, rolloutId: string) => ({ params: { path: { migrationId, rolloutId } } });
  const wpath = (webhookId: string) => ({ params: { path: { webhookId } } });
  return {
    /** liveUrl is the address of the event stream of every migration (server-sent events). */
    liveUrl: `${baseUrl}/events`,
    listMigrations: () => unwrap(c.GET("/migrations")).then((r) => r.migrations),
    /** listMigrationSummaries is every migration with its counts, without its candidates (a cheap read for pages that show counts). */
    listMigrationSummaries: () => unwrap(c.GET("/migrations", { params: { query: { candidates: false } } })).then((r) => r.migrations),
    getMigration: (id: string) => unwrap(c.GET("/migrations/{migrationId}", path(id))),
    getProgress: (id: string, points = 60) =>
      unwrap(c.GET("/migrations/{migrationId}/progress", { params: { path: { migrationId: id }, query: { points } } })),
    async listCandidates(id: string, q: CandidateQuery): Promise<CandidatePage> {
      const query: Record<string, string | number | boolean> = {};
      for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== "") query[k] = v;
      const res = c.GET("/migrations/{migrationId}/candidates", { params: { path: { migrationId: id }, query } });
      const items = await unwrap(res);
      const { response } = await res;
      const total = Number(response.headers.get("X-Total-Count") ?? items.length);
      return { items, total };
    },
    getCandidate: (id: string, candidateId: string) =>
      unwrap(c.GET("/migrations/{migrationId}/candidates/{candidateId}", cpath(id, candidateId))),
    dryRun: (id: string, candidateId: string, inputs: Record<string, string>) =>
      unwrap(c.POST("/migrations/{migrationId}/dry-run", { ...path(id), body: { candidate: { id: candidateId }, inputs } })),
    start: (id: string, candidateId: string, inputs: Record<string, string>) =>
      unwrap(c.POST("/migrations/{migrationId}/candidates/{candidateId}/start", { ...cpath(id, candidateId), body: { inputs } })),
    /** cancel answers "done" when the run has closed, "pending" when its clean-up still runs (202). */
    async cancel(id: string, candidateId: string): Promise<"done" | "pending"> {
      const res = c.POST("/migrations/{migrationId}/candidates/{candidateId}/cancel", cpath(id, candidateId));
      await unwrap(res);
      return (await res).response.status === 202 ? "pending" : "done";
    },
    retryStep: (id: string, candidateId: string, stepName: string) =>
      unwrap(c.POST("/migrations/{migrationId}/candidates/{candidateId}/retry-step", { ...cpath(id, candidateId), body: { stepName } })),
    updateInputs: (id: string, candidateId: string, inputs: Record<string, string>) =>
      unwrap(c.PATCH("/migrations/{migrationId}/candidates/{candidateId}/inputs", { ...cpath(id, candidateId), body: { inputs } })),
    getSteps: (id: string, candidateId: string) =>
      unwrap(c.GET("/migrations/{migrationId}/candidates/{candidateId}/steps", cpath(id, candidateId))),
    /** getHistory is a page of every run of the candidate and every step event of each, newest first. */
    getHistory(id: string, candidateId: string, q: HistoryQuery = {}): Promise<HistoryPage> {
      const query = Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined && v !== "")) as HistoryQuery;
      return unwrap(c.GET("/migrations/{migrationId}/candidates/{candidateId}/history", { params: { path: { migrationId: id, candidateId }, query } }));
    },
    /** markStep records a person's verdict on a waiting step, as the logged-in operator; it names the dispatch they saw, so a mark on a step dispatched again since is refused. */
    markStep: (migrationId: string, candidateId: string, step: StepState, status: "succeeded" | "failed", note?: string) =>
      unwrap(
        c.POST("/migrations/{migrationId}/candidates/{candidateId}/steps/{stepName}/complete", {
          params: { path: { migrationId, candidateId, stepName: step.stepName } },
          body: { status, note, dispatchId: step.dispatchId },
        }),
      ),
    /** listRollouts is a migration's rollouts, oldest first, without their members. */
    listRollouts: (id: string) => unwrap(c.GET("/migrations/{migrationId}/rollouts", path(id))),
    getRollout: (id: string, rolloutId: string) =>
      unwrap(c.GET("/migrations/{migrationId}/rollouts/{rolloutId}", rpath(id, rolloutId))),
    /** previewRollout says which candidates a rollout would take, its waves and its last start; it starts nothing. */
    previewRollout: (id: string, req: RolloutRequest) =>
      unwrap(c.POST("/migrations/{migrationId}/rollouts", { ...path(id), body: { ...req, preview: true } })) as Promise<RolloutPreview>,
    /** createRollout starts a rollout on the server: it goes on whether or not the console stays open. */
    createRollout: (id: string, req: RolloutRequest) =>
      unwrap(c.POST("/migrations/{migrationId}/rollouts", { ...path(id), body: { ...req, preview: false } })) as Promise<Rollout>,
    pauseRollout: (id: string, rolloutId: string, reason?: string) =>
      unwrap(c.POST("/migrations/{migrationId}/rollouts/{rolloutId}/pause", { ...rpath(id, rolloutId), body: reason ? { reason } : {} })),
    resumeRollout: (id: string, rolloutId: string) => unwrap(c.POST("/migrations/{migrationId}/rollouts/{rolloutId}/resume", rpath(id, rolloutId))),
    approveRollout: (id: string, rolloutId: string) => unwrap(c.POST("/migrations/{migrationId}/rollouts/{rolloutId}/approve", rpath(id, rolloutId))),
    cancelRollout: (id: string, rolloutId: string, cancelRuns: boolean) =>
      unwrap(c.POST("/migrations/{migrationId}/rollouts/{rolloutId}/cancel", { ...rpath(id, rolloutId), body: { cancelRuns } })),
    retryFailed: (id: string, rolloutId: string) => unwrap(c.POST("/migrations/{migrationId}/rollouts/{rolloutId}/retry-failed", rpath(id, rolloutId))),
    /** cancelRuns asks the server to cancel the runs of many candidates; it carries them out whether or not the console stays. */
    cancelRuns: (id: string, candidateIds: string[]) => unwrap(c.POST("/migrations/{migrationId}/cancel-runs", { ...path(id), body: { candidateIds } })),
    /** listWebhooks is every notification webhook, oldest first, without their secrets (admins only). */
    listWebhooks: () => unwrap(c.GET("/admin/webhooks")).then((r) => r.webhooks),
    /** createWebhook adds a webhook; the answer carries its signing secret, which Drover never shows again. */
    createWebhook: (input: WebhookInput) => unwrap(c.POST("/admin/webhooks", { body: input })),
    /** deleteWebhook removes a webhook and its delivery log. */
    deleteWebhook: (webhookId: string) => unwrap(c.DELETE("/admin/webhooks/{webhookId}", wpath(webhookId))),
    /** testWebhook sends the webhook a test notification; its delivery shows in the webhook's log. */
    testWebhook: (webhookId: string) => unwrap(c.POST("/admin/webhooks/{webhookId}/test", wpath(webhookId))),
    /** listWebhookDeliveries is a webhook's latest deliveries, newest first, with how each went. */
    listWebhookDeliveries: (webhookId: string, limit = 50) =>
      unwrap(c.GET("/admin/webhooks/{webhookId}/deliveries", { params: { path: { webhookId }, query: { limit } } })).then((r) => r.deliveries),
    /** logout ends the console's session. */
    logout: () => unwrap(c.POST("/auth/logout")),
    /** whoAmI says who the console acts as; a session's CSRF token is kept for state changes. */
    whoAmI: async () => {
      const me = await unwrap(c.GET("/auth/me"));
      csrf = me.csrfToken ?? "";
      return me;
    },
    /** listAudit is a page of the audit log, newest first. */
    listAudit(q: AuditQuery): Promise<AuditPage> {
      const query = Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined && v !== "")) as AuditQuery;
      return unwrap(c.GET("/audit", { params: { query } }));
    },
    ready: async () => {
      const res = await (fetchImpl ?? fetch)(`${baseUrl}/readyz`);
      return (await res.json()) as Schemas["Readiness"];
    },
  };
}

export type Api = ReturnType<typeof makeApi>;
