import type { StepDefinition, StepState } from "./api/client";

/** The step type that, like `manual: true`, makes a step wait for a person. */
export const MANUAL_REVIEW = "manual-review";

/** isManual says whether a step waits for a person: `manual: true` or `type: "manual-review"`. */
export function isManual(def: Pick<StepDefinition, "manual" | "type"> | undefined): boolean {
  return def?.manual === true || def?.type === MANUAL_REVIEW;
}

type StepClock = Pick<StepState, "status" | "timedOutAt">;

/**
 * timedOut says whether the step's timeout passed without it finishing, as Drover's attention
 * does: an in_progress step (accepted, never called back) is then "silent", a pending one
 * "overdue"; undefined otherwise.
 */
export function timedOut(st: StepClock | undefined): "silent" | "overdue" | undefined {
  if (!st?.timedOutAt) return undefined;
  if (st.status === "in_progress") return "silent";
  if (st.status === "pending") return "overdue";
  return undefined;
}

/** isRetryable says whether an operator may retry the step (POST retry-step): it failed, went silent or is overdue. */
export function isRetryable(st: StepClock | undefined): boolean {
  return st?.status === "failed" || timedOut(st) !== undefined;
}

/**
 * markable is what an operator may mark a step: done or failed while it is pending (overdue
 * included), failed when it went silent, nothing otherwise.
 */
export function markable(st: StepClock | undefined): ("succeeded" | "failed")[] {
  if (st?.status === "pending") return ["succeeded", "failed"];
  if (timedOut(st) === "silent") return ["failed"];
  return [];
}
