import type { Candidate, Migration } from "./api/client";

/** initialInputs pre-fills the required inputs: the run's stored inputs, else the candidate's metadata of the same name. */
export function initialInputs(m: Migration, c: Candidate): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of m.requiredInputs ?? []) out[i.name] = c.inputs?.[i.name] ?? c.metadata?.[i.name] ?? "";
  return out;
}
