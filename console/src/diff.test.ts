import { describe, expect, it } from "vitest";
import { fold, lineDiff, pairUp, stats } from "./diff";

const lines = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `line ${i + from}`);

describe("lineDiff", () => {
  it("numbers lines on both sides and marks changes", () => {
    const d = lineDiff("module x\n\ngo 1.21\n", "module x\n\ngo 1.26\ntoolchain go1.26.8\n");
    expect(d.map((l) => [l.kind, l.text, l.oldNo, l.newNo])).toEqual([
      ["same", "module x", 1, 1],
      ["same", "", 2, 2],
      ["del", "go 1.21", 3, undefined],
      ["add", "go 1.26", undefined, 3],
      ["add", "toolchain go1.26.8", undefined, 4],
    ]);
    expect(stats(d)).toEqual({ added: 2, removed: 1 });
  });

  it("treats a new file as all added and a deleted one as all removed", () => {
    expect(lineDiff("", "a\nb").map((l) => l.kind)).toEqual(["add", "add"]);
    expect(lineDiff("a\nb\n", "").map((l) => l.kind)).toEqual(["del", "del"]);
  });
});

describe("fold", () => {
  it("folds a long unchanged run between changes, keeping 3 lines of context each side", () => {
    const before = ["a", ...lines(20), "b"].join("\n");
    const after = ["A", ...lines(20), "B"].join("\n");
    const rows = fold(lineDiff(before, after));
    const folds = rows.filter((r) => r.kind === "fold");
    expect(folds).toHaveLength(1);
    expect(folds[0].kind === "fold" && folds[0].lines.map((l) => l.text)).toEqual(lines(14, 4));
    // 2 changed lines at the top, 3 context, fold, 3 context, 2 changed lines at the bottom
    expect(rows).toHaveLength(2 + 3 + 1 + 3 + 2);
  });

  it("folds leading and trailing runs without context on the file's edge", () => {
    const before = [...lines(10), "x", ...lines(10, 11)].join("\n");
    const after = [...lines(10), "y", ...lines(10, 11)].join("\n");
    const rows = fold(lineDiff(before, after));
    expect(rows[0].kind).toBe("fold");
    expect(rows[rows.length - 1].kind).toBe("fold");
    expect(rows.filter((r) => r.kind === "line")).toHaveLength(3 + 2 + 3);
  });

  it("does not fold short runs: a fold must hide more than it costs", () => {
    const rows = fold(lineDiff("a\n1\n2\n3\n4\n5\n6\n7\nb\n", "A\n1\n2\n3\n4\n5\n6\n7\nB\n"));
    expect(rows.every((r) => r.kind === "line")).toBe(true);
  });
});

describe("pairUp", () => {
  it("puts removed lines beside added ones and pads the shorter side", () => {
    const rows = pairUp(lineDiff("keep\nold1\nold2\n", "keep\nnew1\n"));
    expect(rows.map((r) => [r.left?.text, r.right?.text])).toEqual([
      ["keep", "keep"],
      ["old1", "new1"],
      ["old2", undefined],
    ]);
  });
});
