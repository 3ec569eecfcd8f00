import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Progress } from "../api/client";

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** ProgressChart plots how many candidates had started and completed over time. */
export function ProgressChart({ progress, theme }: { progress: Progress; theme: string }) {
  const box = useRef<HTMLDivElement>(null);
  const points = progress.points;

  useEffect(() => {
    const el = box.current;
    if (!el || points.length === 0 || typeof ResizeObserver === "undefined") return;
    const data: uPlot.AlignedData = [
      points.map((p) => Date.parse(p.at) / 1000),
      points.map((p) => p.started),
      points.map((p) => p.completed),
    ];
    const axis = { stroke: cssVar("--muted", "#667"), grid: { stroke: cssVar("--line", "#ddd"), width: 1 }, ticks: { stroke: cssVar("--line", "#ddd") } };
    const plot = new uPlot(
      {
        width: Math.max(el.clientWidth, 200),
        height: 180,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { y: { range: [0, Math.max(progress.total, 1)] } },
        axes: [axis, { ...axis, size: 44 }],
        series: [
          {},
          { label: "Started", stroke: cssVar("--running", "#2f6fed"), width: 2, fill: cssVar("--running-soft", "rgba(47,111,237,.12)") },
          { label: "Completed", stroke: cssVar("--completed", "#1a9a5a"), width: 2, fill: cssVar("--completed-soft", "rgba(26,154,90,.15)") },
        ],
      },
      data,
      el,
    );
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 200), height: 180 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [points, progress.total, theme]);

  if (points.length === 0) return <p className="muted">No candidate has started yet; the chart fills in as runs start and complete.</p>;
  const last = points[points.length - 1];
  return (
    <figure className="chart">
      <div ref={box} data-testid="progress-chart" />
      <figcaption className="muted">
        {last.started.toLocaleString()} started and {last.completed.toLocaleString()} completed of {progress.total.toLocaleString()} candidates, since{" "}
        {new Date(points[0].at).toLocaleString()}.
      </figcaption>
    </figure>
  );
}
