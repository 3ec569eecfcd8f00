import { Command } from "cmdk";
import { useEffect, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useNavigate } from "react-router";
import { useApi } from "../api/context";
import type { Candidate, Migration } from "../api/client";
import { StatusBadge } from "./Badges";
import { useDebounced } from "../hooks";

type Hit = { migration: Migration; candidate: Candidate };

/** CommandPalette (Ctrl+K, ⌘K or /) jumps to a migration or a candidate by typing part of its name. */
export function CommandPalette({ open, setOpen, toggleTheme }: { open: boolean; setOpen: (o: boolean) => void; toggleTheme: () => void }) {
  const api = useApi();
  const navigate = useNavigate();
  const [text, setText] = useState("");
  const q = useDebounced(text.trim(), 150);
  const migrations = useQuery({ queryKey: ["migrations"], queryFn: api.listMigrations, enabled: open });
  const ms = migrations.data ?? [];
  const hits = useQuery({
    queryKey: ["palette", q, ms.map((m) => m.id).join(",")],
    enabled: open && q.length >= 2 && ms.length > 0,
    queryFn: async (): Promise<Hit[]> => {
      const pages = await Promise.all(
        ms.slice(0, 20).map(async (m) => (await api.listCandidates(m.id, { q, limit: 5 })).items.map((candidate) => ({ migration: m, candidate }))),
      );
      return pages.flat().slice(0, 30);
    },
  });

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const typing = e.target instanceof HTMLElement && e.target.closest("input, textarea, select, [contenteditable]");
      if ((e.key === "k" && (e.metaKey || e.ctrlKey)) || (e.key === "/" && !typing)) {
        e.preventDefault();
        setOpen(!open);
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [open, setOpen]);

  const go = (to: string) => {
    setOpen(false);
    setText("");
    navigate(to);
  };
  const lower = q.toLowerCase();
  const actions = [
    { id: "home", label: "All migrations", run: () => go("/") },
    {
      id: "theme",
      label: "Switch light / dark theme",
      run: () => {
        toggleTheme();
        setOpen(false);
      },
    },
  ].filter((a) => !lower || a.label.toLowerCase().includes(lower));
  const matching = ms.filter((m) => !lower || `${m.id} ${m.name} ${m.description}`.toLowerCase().includes(lower));
  // Results arrive after typing; keep the first one selected so Enter goes there.
  const first = matching[0] ? `m:${matching[0].id}` : hits.data?.[0] ? `c:${hits.data[0].migration.id}/${hits.data[0].candidate.id}` : actions[0] ? `a:${actions[0].id}` : "";
  const [selected, setSelected] = useState("");
  useEffect(() => setSelected(first), [first]);

  return (
    <Command.Dialog open={open} onOpenChange={setOpen} label="Jump to" shouldFilter={false} value={selected} onValueChange={setSelected} className="palette" overlayClassName="palette-overlay">
      <Command.Input value={text} onValueChange={setText} placeholder="Jump to a migration or candidate…" />
      <Command.List>
        <Command.Empty>{migrations.isLoading || hits.isFetching ? "Searching…" : "Nothing matches."}</Command.Empty>
        {matching.length > 0 && (
          <Command.Group heading="Migrations">
            {matching.slice(0, 10).map((m) => (
              <Command.Item key={m.id} value={`m:${m.id}`} onSelect={() => go(`/migrations/${m.id}`)}>
                <span>{m.name}</span>
                <code className="muted">{m.id}</code>
              </Command.Item>
            ))}
          </Command.Group>
        )}
        {(hits.data?.length ?? 0) > 0 && (
          <Command.Group heading="Candidates">
            {hits.data!.map((h) => (
              <Command.Item
                key={`${h.migration.id}/${h.candidate.id}`}
                value={`c:${h.migration.id}/${h.candidate.id}`}
                onSelect={() => go(`/migrations/${h.migration.id}/candidates/${h.candidate.id}`)}
              >
                <span>{h.candidate.id}</span>
                <span className="muted">in {h.migration.name}</span>
                <StatusBadge status={h.candidate.status} />
              </Command.Item>
            ))}
          </Command.Group>
        )}
        {actions.length > 0 && (
          <Command.Group heading="Actions">
            {actions.map((a) => (
              <Command.Item key={a.id} value={`a:${a.id}`} onSelect={a.run}>
                {a.label}
              </Command.Item>
            ))}
          </Command.Group>
        )}
      </Command.List>
    </Command.Dialog>
  );
}
