import type { AuditEntry } from "./api/client";

/** verbs says what each audited operation did, in the words of an activity list. */
const verbs: Record<string, string> = {
  startRun: "started",
  cancelRun: "cancelled",
  retryStep: "retried step",
  updateInputs: "changed the inputs",
  dryRun: "previewed",
  completeStep: "marked step",
  announceMigration: "announced",
  submitCandidates: "submitted candidates",
  postStepEvent: "reported a step",
  createToken: "minted a token",
  revokeToken: "revoked a token",
  createMigratorCredential: "created a migrator credential",
  rotateMigratorCredential: "rotated a migrator credential",
  revokeMigratorCredential: "revoked a migrator credential",
  createWebhook: "added a notification webhook",
  deleteWebhook: "deleted a notification webhook",
  testWebhook: "sent a test notification",
};

/** stepOf is the step a request named in its path (a mark: …/steps/{stepName}/complete), if any. */
export function stepOf(path: string): string | undefined {
  const m = /\/steps\/([^/]+)\/complete$/.exec(path);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1];
  }
}

/** actionWords is what an audit entry's caller did or tried, e.g. "started" or "marked step review". */
export function actionWords(e: Pick<AuditEntry, "action" | "path">): string {
  const verb = verbs[e.action] ?? e.action;
  const step = stepOf(e.path);
  return step ? `${verb} ${step}` : verb;
}

/** who names an entry's caller as people know it: the token's or person's name, else the actor. */
export function who(e: Pick<AuditEntry, "actor" | "actorName">): string {
  return e.actorName || e.actor;
}
