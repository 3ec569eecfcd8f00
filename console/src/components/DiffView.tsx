import { Fragment, useMemo, useState } from "react";
import type { FileDiff } from "../api/client";
import { fold, lineDiff, pairUp, stats, type Line, type Row } from "../diff";

export type DiffMode = "unified" | "split";

/** DiffView shows one file's change: added and removed lines highlighted, long unchanged runs folded. */
export function DiffView({ file, mode }: { file: FileDiff; mode: DiffMode }) {
  const lines = useMemo(() => lineDiff(file.before ?? "", file.after ?? ""), [file.before, file.after]);
  const rows = useMemo(() => fold(lines), [lines]);
  const [open, setOpen] = useState<Set<number>>(new Set());
  const { added, removed } = stats(lines);
  const expanded = rows.flatMap<Row>((r) => (r.kind === "fold" && open.has(r.id) ? r.lines.map((line) => ({ kind: "line", line })) : [r]));
  const unfold = (id: number) => setOpen((s) => new Set(s).add(id));

  return (
    <div className="diff" data-testid="diff">
      <div className="diff-head">
        <span className={`badge file-${file.status}`}>{file.status}</span>
        <code className="path">{file.repo ? `${file.repo}: ` : ""}{file.path}</code>
        <span className="counts">
          <span className="plus">+{added}</span> <span className="minus">−{removed}</span>
        </span>
      </div>
      {lines.length === 0 ? (
        <p className="muted pad">Empty file.</p>
      ) : (
        <table className={`diff-table ${mode}`}>
          <tbody>{mode === "unified" ? <Unified rows={expanded} unfold={unfold} /> : <Split rows={expanded} unfold={unfold} />}</tbody>
        </table>
      )}
    </div>
  );
}

function FoldRow({ n, colSpan, onClick }: { n: number; colSpan: number; onClick: () => void }) {
  return (
    <tr className="fold">
      <td colSpan={colSpan}>
        <button type="button" className="link" onClick={onClick}>
          ⋯ {n} unchanged {n === 1 ? "line" : "lines"} (show)
        </button>
      </td>
    </tr>
  );
}

const sign = { add: "+", del: "−", same: " " } as const;

function Unified({ rows, unfold }: { rows: Row[]; unfold: (id: number) => void }) {
  return (
    <>
      {rows.map((r, i) =>
        r.kind === "fold" ? (
          <FoldRow key={`f${r.id}`} n={r.lines.length} colSpan={4} onClick={() => unfold(r.id)} />
        ) : (
          <tr key={i} className={`l-${r.line.kind}`}>
            <td className="no">{r.line.oldNo ?? ""}</td>
            <td className="no">{r.line.newNo ?? ""}</td>
            <td className="sign">{sign[r.line.kind]}</td>
            <td className="code">{r.line.text}</td>
          </tr>
        ),
      )}
    </>
  );
}

function Split({ rows, unfold }: { rows: Row[]; unfold: (id: number) => void }) {
  // Pair up each stretch of lines between folds.
  const blocks: (Line[] | Row)[] = [];
  for (const r of rows) {
    if (r.kind === "fold") blocks.push(r);
    else {
      const last = blocks[blocks.length - 1];
      if (Array.isArray(last)) last.push(r.line);
      else blocks.push([r.line]);
    }
  }
  const cell = (l: Line | undefined, side: "left" | "right") =>
    l ? (
      <>
        <td className="no">{side === "left" ? l.oldNo : l.newNo}</td>
        <td className={`code l-${l.kind}`}>{l.text}</td>
      </>
    ) : (
      <>
        <td className="no" />
        <td className="code l-empty" />
      </>
    );
  return (
    <>
      {blocks.map((b, i) =>
        Array.isArray(b) ? (
          <Fragment key={i}>
            {pairUp(b).map((p, k) => (
              <tr key={k}>
                {cell(p.left, "left")}
                {cell(p.right, "right")}
              </tr>
            ))}
          </Fragment>
        ) : b.kind === "fold" ? (
          <FoldRow key={`f${b.id}`} n={b.lines.length} colSpan={4} onClick={() => unfold(b.id)} />
        ) : null,
      )}
    </>
  );
}
