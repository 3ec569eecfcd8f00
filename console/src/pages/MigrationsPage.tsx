import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { useApi } from "../api/context";
import { ErrorNote } from "../components/ErrorNote";
import { ProgressBar } from "../components/ProgressBar";
import { ago, plural } from "../format";
import { fetchOverview, projection } from "../insights";
import { usePoll } from "../live";

/** MigrationsPage lists every migration with its progress; it refreshes while candidates run. */
export function MigrationsPage() {
  const api = useApi();
  const [q, setQ] = useState("");
  const poll = usePoll();
  const list = useQuery({
    queryKey: ["migrations", "summaries"],
    queryFn: api.listMigrationSummaries,
    refetchInterval: (query) => poll((query.state.data ?? []).some((m) => (m.counts?.running ?? 0) > 0) ? 3000 : 15000),
  });
  // Each migration's projected completion; the list stands without it (an older server, a slow read).
  const overview = useQuery({ queryKey: ["insights", "overview"], queryFn: () => fetchOverview(7), refetchInterval: poll(60_000), retry: false });
  const projections = new Map((overview.data?.migrations ?? []).map((mi) => [mi.migrationId, mi]));
  const needle = q.trim().toLowerCase();
  const shown = (list.data ?? []).filter((m) => !needle || `${m.id} ${m.name} ${m.description}`.toLowerCase().includes(needle));

  return (
    <section className="page">
      <div className="page-head">
        <h1>Migrations</h1>
        <input type="search" className="filter" placeholder="Search migrations" aria-label="Search migrations" value={q} onChange={(e) => setQ(e.target.value)} />
      </div>
      <ErrorNote error={list.error} onRetry={() => list.refetch()} />
      {list.isLoading && <p className="muted">Loading migrations…</p>}
      {list.data && list.data.length === 0 && (
        <div className="empty">
          <h2>No migration yet</h2>
          <p>
            A migrator announces its migration with <code>POST /registry/announce</code>; it appears here at once. <code>drover dev</code> starts a
            demo migrator unless it runs with <code>--no-demo</code>.
          </p>
        </div>
      )}
      {list.data && list.data.length > 0 && shown.length === 0 && <p className="muted">No migration matches “{q}”.</p>}
      <ul className="cards">
        {shown.map((m) => {
          const c = m.counts ?? { not_started: 0, running: 0, completed: 0 };
          const total = c.not_started + c.running + c.completed;
          return (
            <li key={m.id} className="card">
              <div className="card-head">
                <Link to={`/migrations/${m.id}`} className="title">
                  {m.name}
                </Link>
                <code className="muted">{m.id}</code>
              </div>
              <p className="desc">{m.description}</p>
              <ProgressBar counts={m.counts} />
              {projections.has(m.id) && (
                <p className="small">
                  <Link to={`/migrations/${m.id}/insights`}>Projection</Link>: {projection(projections.get(m.id)!)}
                </p>
              )}
              <p className="muted small">
                {plural(total, "candidate")} · {plural(m.steps.length, "step")} · announced {ago(m.createdAt)}
                {m.updatedAt ? ` · last change ${ago(m.updatedAt)}` : ""}
              </p>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
