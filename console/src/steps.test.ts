import { describe, expect, it } from "vitest";
import { isManual } from "./steps";

describe("isManual", () => {
  it("is true for manual steps and steps of type manual-review, false otherwise", () => {
    expect(isManual({ manual: true })).toBe(true);
    expect(isManual({ type: "manual-review" })).toBe(true);
    expect(isManual({ type: "manual-review", manual: false })).toBe(true);
    expect(isManual({ type: "rollout" })).toBe(false);
    expect(isManual({ manual: false })).toBe(false);
    expect(isManual({})).toBe(false);
    expect(isManual(undefined)).toBe(false);
  });
});
