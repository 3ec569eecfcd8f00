import { useEffect, useRef } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { ErrorNote } from "../components/ErrorNote";
import { useCurrentTheme } from "../components/Layout";
import { ago, when } from "../format";
import {
  chartData,
  fetchInsights,
  formatSeconds,
  mostFailingSteps,
  percent,
  perDay,
  projection,
  slowestSteps,
  type DayInsight,
  type Insights,
} from "../insights";

const DAYS = 30;

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** BurndownChart plots the candidates remaining at the end of each day and the runs completed that day (right axis). */
function BurndownChart({ days, total, theme }: { days: DayInsight[]; total: number; theme: string }) {
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = box.current;
    if (!el || days.length === 0 || typeof ResizeObserver === "undefined") return;
    const data = chartData(days) as uPlot.AlignedData;
    const maxDone = Math.max(1, ...days.map((d) => d.completed));
    const axis = { stroke: cssVar("--muted", "#667"), grid: { stroke: cssVar("--line", "#ddd"), width: 1 }, ticks: { stroke: cssVar("--line", "#ddd") } };
    const plot = new uPlot(
      {
        width: Math.max(el.clientWidth, 200),
        height: 200,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { y: { range: [0, Math.max(total, 1)] }, perDay: { range: [0, Math.ceil(maxDone * 1.2)] } },
        axes: [axis, { ...axis, size: 44 }, { ...axis, scale: "perDay", side: 1, size: 36, grid: { show: false } }],
        series: [
          {},
          { label: "Remaining", stroke: cssVar("--running", "#2f6fed"), width: 2, fill: cssVar("--running-soft", "rgba(47,111,237,.12)") },
          {
            label: "Completed per day",
            scale: "perDay",
            stroke: cssVar("--completed", "#1a9a5a"),
            fill: cssVar("--completed-soft", "rgba(26,154,90,.35)"),
            paths: uPlot.paths.bars?.({ size: [0.6, 24] }),
            points: { show: false },
          },
        ],
      },
      data,
      el,
    );
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 200), height: 200 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [days, total, theme]);

  if (days.length === 0) return <p className="muted">No days to show yet.</p>;
  return (
    <figure className="chart">
      <div ref={box} data-testid="burndown-chart" />
      <figcaption className="muted">
        Candidates remaining at the end of each UTC day, and runs completed that day, from {days[0].day} to {days[days.length - 1].day}.
      </figcaption>
    </figure>
  );
}

function Headline({ ins }: { ins: Insights }) {
  return (
    <div className="panel">
      <h2>
        {ins.remaining.toLocaleString()} of {ins.total.toLocaleString()} remaining
      </h2>
      <p>
        {ins.completed.toLocaleString()} completed · {perDay(ins.completedPerDay ?? 0)} over the last 7 days · {projection(ins)}
      </p>
      <p className="muted small">
        Since {when(ins.since)} · computed {ago(ins.generatedAt)}
      </p>
    </div>
  );
}

function StepTable({ ins }: { ins: Insights }) {
  if (ins.steps.length === 0) return <p className="muted">No step has run yet.</p>;
  return (
    <div className="table-wrap">
      <table className="candidates" aria-label="Steps">
        <thead>
          <tr>
            <th>Step</th>
            <th>Finished</th>
            <th>Failure rate</th>
            <th>Retry rate</th>
            <th>p50</th>
            <th>p95</th>
            <th>Max</th>
            <th>Waiting on people</th>
          </tr>
        </thead>
        <tbody>
          {ins.steps.map((s) => (
            <tr key={s.stepName}>
              <td>
                <code>{s.stepName}</code>
              </td>
              <td>{s.finished.toLocaleString()}</td>
              <td title={`${s.failed} failed of ${s.finished}`}>{percent(s.failureRate)}</td>
              <td title={`${s.retried} retried of ${s.finished}`}>{percent(s.retryRate)}</td>
              <td>{formatSeconds(s.p50Seconds)}</td>
              <td>{formatSeconds(s.p95Seconds)}</td>
              <td>{formatSeconds(s.maxSeconds)}</td>
              <td>{s.waitingOnPeopleSeconds > 0 ? formatSeconds(s.waitingOnPeopleSeconds) : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Standouts({ ins }: { ins: Insights }) {
  const slow = slowestSteps(ins.steps);
  const failing = mostFailingSteps(ins.steps);
  return (
    <div className="two-col">
      <div className="panel">
        <h2>Slowest steps (p95)</h2>
        {slow.length === 0 ? (
          <p className="muted">No step has succeeded yet.</p>
        ) : (
          <ol>
            {slow.map((s) => (
              <li key={s.stepName}>
                <code>{s.stepName}</code> {formatSeconds(s.p95Seconds)} <span className="muted small">(max {formatSeconds(s.maxSeconds)})</span>
              </li>
            ))}
          </ol>
        )}
      </div>
      <div className="panel">
        <h2>Most failing steps</h2>
        {failing.length === 0 ? (
          <p className="muted">No step has failed.</p>
        ) : (
          <ol>
            {failing.map((s) => (
              <li key={s.stepName}>
                <code>{s.stepName}</code> {percent(s.failureRate)}{" "}
                <span className="muted small">
                  ({s.failed} of {s.finished})
                </span>
              </li>
            ))}
          </ol>
        )}
      </div>
    </div>
  );
}

function RecentFailures({ ins }: { ins: Insights }) {
  return (
    <div className="panel">
      <h2>Recent failures</h2>
      {ins.recentFailures.length === 0 ? (
        <p className="muted">No step failed in this period.</p>
      ) : (
        <ul className="plain">
          {ins.recentFailures.map((f) => (
            <li key={`${f.candidateId}/${f.id}`}>
              {f.candidateId ? (
                <Link to={`/migrations/${encodeURIComponent(ins.migrationId)}/candidates/${encodeURIComponent(f.candidateId)}`}>{f.candidateId}</Link>
              ) : (
                <span className="muted">unknown candidate</span>
              )}{" "}
              {f.stepName && <code>{f.stepName}</code>} <span className="muted small" title={when(f.at)}>{ago(f.at)}</span>
              {f.error && <div className="small">{f.error}</div>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** InsightsPage shows how a migration is going: what remains, at what rate, which steps are slow or fail, and the latest failures. */
export function InsightsPage() {
  const { migrationId = "" } = useParams();
  const theme = useCurrentTheme();
  const insights = useQuery({
    queryKey: ["insights", migrationId, DAYS],
    queryFn: () => fetchInsights(migrationId, DAYS),
    refetchInterval: 30_000,
  });
  const ins = insights.data;

  return (
    <section className="page">
      <p className="crumbs">
        <Link to="/">Migrations</Link> / <Link to={`/migrations/${encodeURIComponent(migrationId)}`}>{migrationId}</Link> / <span>Insights</span>
      </p>
      <div className="page-head">
        <h1>Insights</h1>
      </div>
      <ErrorNote error={insights.error} onRetry={() => insights.refetch()} />
      {insights.isPending && <p className="muted">Loading…</p>}
      {ins && (
        <>
          <Headline ins={ins} />
          <div className="panel">
            <h2>Burndown and throughput</h2>
            <BurndownChart days={ins.days} total={ins.total} theme={theme} />
          </div>
          <div className="panel">
            <h2>Steps</h2>
            <StepTable ins={ins} />
          </div>
          <Standouts ins={ins} />
          <RecentFailures ins={ins} />
        </>
      )}
    </section>
  );
}
