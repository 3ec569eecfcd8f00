import type { StepDefinition } from "./api/client";

/** The step type that, like `manual: true`, makes a step wait for a person. */
export const MANUAL_REVIEW = "manual-review";

/** isManual says whether a step waits for a person: `manual: true` or `type: "manual-review"`. */
export function isManual(def: Pick<StepDefinition, "manual" | "type"> | undefined): boolean {
  return def?.manual === true || def?.type === MANUAL_REVIEW;
}
