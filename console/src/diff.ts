import { diffLines } from "diff";

export type Line = { kind: "same" | "add" | "del"; text: string; oldNo?: number; newNo?: number };
export type Row = { kind: "line"; line: Line } | { kind: "fold"; id: number; lines: Line[] };
export type SplitRow = { left?: Line; right?: Line };

function splitText(s: string): string[] {
  if (s === "") return [];
  const lines = s.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** lineDiff is the line-by-line difference of two texts with line numbers on both sides. */
export function lineDiff(before: string, after: string): Line[] {
  const out: Line[] = [];
  let o = 1;
  let n = 1;
  for (const part of diffLines(before, after)) {
    for (const text of splitText(part.value)) {
      if (part.added) out.push({ kind: "add", text, newNo: n++ });
      else if (part.removed) out.push({ kind: "del", text, oldNo: o++ });
      else out.push({ kind: "same", text, oldNo: o++, newNo: n++ });
    }
  }
  return out;
}

/** fold hides runs of unchanged lines longer than 2×context+1, keeping context lines next to changes. */
export function fold(lines: Line[], context = 3): Row[] {
  const rows: Row[] = [];
  let i = 0;
  let id = 0;
  while (i < lines.length) {
    if (lines[i].kind !== "same") {
      rows.push({ kind: "line", line: lines[i++] });
      continue;
    }
    let j = i;
    while (j < lines.length && lines[j].kind === "same") j++;
    const run = lines.slice(i, j);
    const keepHead = i === 0 ? 0 : context;
    const keepTail = j === lines.length ? 0 : context;
    if (run.length > keepHead + keepTail + 1) {
      run.slice(0, keepHead).forEach((line) => rows.push({ kind: "line", line }));
      rows.push({ kind: "fold", id: id++, lines: run.slice(keepHead, run.length - keepTail) });
      run.slice(run.length - keepTail).forEach((line) => rows.push({ kind: "line", line }));
    } else {
      run.forEach((line) => rows.push({ kind: "line", line }));
    }
    i = j;
  }
  return rows;
}

/** pairUp lays a block of changed lines side by side: removed on the left, added on the right. */
export function pairUp(lines: Line[]): SplitRow[] {
  const rows: SplitRow[] = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i].kind === "same") {
      rows.push({ left: lines[i], right: lines[i] });
      i++;
      continue;
    }
    const dels: Line[] = [];
    const adds: Line[] = [];
    while (i < lines.length && lines[i].kind !== "same") {
      (lines[i].kind === "del" ? dels : adds).push(lines[i]);
      i++;
    }
    for (let k = 0; k < Math.max(dels.length, adds.length); k++) rows.push({ left: dels[k], right: adds[k] });
  }
  return rows;
}

/** stats counts a diff's added and removed lines, for the file header. */
export function stats(lines: Line[]): { added: number; removed: number } {
  return { added: lines.filter((l) => l.kind === "add").length, removed: lines.filter((l) => l.kind === "del").length };
}
