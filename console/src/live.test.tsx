import { describe, expect, it } from "vitest";
import { act, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider, useQuery } from "@tanstack/react-query";
import type { LiveEvent } from "./api/client";
import { keysFor, LIVE_POLL_MS, LiveProvider, usePoll, useLive, type LiveSource } from "./live";

const ev = (e: Partial<LiveEvent> & Pick<LiveEvent, "kind">): LiveEvent => ({ id: "1-1", at: "2026-12-02T10:00:00Z", ...e });

describe("keysFor", () => {
  it("names the queries that show what changed", () => {
    expect(keysFor(ev({ kind: "step", migrationId: "m", candidateId: "a", stepName: "pr" }))).toEqual([
      ["migration", "m"],
      ["candidates", "m"],
      ["candidate", "m", "a"],
      ["steps", "m", "a"],
      ["history", "m", "a"],
    ]);
    expect(keysFor(ev({ kind: "candidate", migrationId: "m", candidateId: "a" }))).toContainEqual(["migrations"]);
    expect(keysFor(ev({ kind: "candidate", migrationId: "m", candidateId: "a" }))).toContainEqual(["progress", "m"]);
    expect(keysFor(ev({ kind: "rollout", migrationId: "m", rolloutId: "r" }))).toEqual([
      ["migration", "m"],
      ["rollouts", "m"],
      ["rollout", "m", "r"],
    ]);
    expect(keysFor(ev({ kind: "candidates", migrationId: "m" }))).toContainEqual(["candidates", "m"]);
    expect(keysFor(ev({ kind: "reset" }))).toEqual([[]]);
  });
});

/** fakeSource is an EventSource the test drives. */
function fakeSource() {
  const opened: string[] = [];
  let closed = 0;
  const src: LiveSource = { onopen: null, onerror: null, onmessage: null, close: () => void closed++ };
  return {
    open: (url: string) => {
      opened.push(url);
      return src;
    },
    opened,
    closed: () => closed,
    connect: () => act(() => src.onopen?.(new Event("open"))),
    drop: () => act(() => src.onerror?.(new Event("error"))),
    send: (e: LiveEvent) => act(() => src.onmessage?.(new MessageEvent("message", { data: JSON.stringify(e) }))),
  };
}

function Probe({ fetches }: { fetches: Record<string, number> }) {
  const poll = usePoll();
  const live = useLive();
  const count = (k: string) => () => {
    fetches[k] = (fetches[k] ?? 0) + 1;
    return fetches[k];
  };
  useQuery({ queryKey: ["candidate", "m", "a"], queryFn: count("a") });
  useQuery({ queryKey: ["candidate", "m", "b"], queryFn: count("b") });
  useQuery({ queryKey: ["rollouts", "m"], queryFn: count("rollouts") });
  return (
    <>
      <p>
        {live ? "live" : "polling"} every {String(poll(3000))}
      </p>
      <p>not evented every {String(poll(5000, { evented: false }))}</p>
    </>
  );
}

function renderLive(src: ReturnType<typeof fakeSource>) {
  const fetches: Record<string, number> = {};
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const view = render(
    <QueryClientProvider client={qc}>
      <LiveProvider url="http://drover.test/events" open={src.open}>
        <Probe fetches={fetches} />
      </LiveProvider>
    </QueryClientProvider>,
  );
  return { fetches, view };
}

describe("LiveProvider", () => {
  it("refetches what an event makes stale, and polls only as a safety net while connected", async () => {
    const src = fakeSource();
    const { fetches, view } = renderLive(src);
    expect(src.opened).toEqual(["http://drover.test/events"]);
    await waitFor(() => expect(fetches).toEqual({ a: 1, b: 1, rollouts: 1 }));
    expect(screen.getByText("polling every 3000")).toBeInTheDocument();

    expect(screen.getByText("not evented every 5000")).toBeInTheDocument();
    src.connect();
    expect(screen.getByText(`live every ${LIVE_POLL_MS}`)).toBeInTheDocument();
    // Data no event refetches keeps its own pace while live updates arrive.
    expect(screen.getByText("not evented every 5000")).toBeInTheDocument();

    // A burst of events about candidate a: one refetch of a, none of b or the rollouts.
    src.send(ev({ kind: "step", migrationId: "m", candidateId: "a", stepName: "pr", stepStatus: "pending" }));
    src.send(ev({ kind: "step", migrationId: "m", candidateId: "a", stepName: "pr", stepStatus: "succeeded" }));
    src.send(ev({ kind: "candidate", migrationId: "m", candidateId: "a", candidateStatus: "completed" }));
    await waitFor(() => expect(fetches.a).toBe(2));
    src.send(ev({ kind: "rollout", migrationId: "m", rolloutId: "r" }));
    await waitFor(() => expect(fetches.rollouts).toBe(2));
    expect(fetches).toEqual({ a: 2, b: 1, rollouts: 2 });

    // A reset refetches everything.
    src.send(ev({ kind: "reset" }));
    await waitFor(() => expect(fetches).toEqual({ a: 3, b: 2, rollouts: 3 }));

    // While the stream reconnects, pages poll again.
    src.drop();
    expect(screen.getByText("polling every 3000")).toBeInTheDocument();

    view.unmount();
    expect(src.closed()).toBe(1);
  });

  it("ignores data it cannot read", async () => {
    const src = fakeSource();
    const { fetches } = renderLive(src);
    await waitFor(() => expect(fetches.a).toBe(1));
    src.connect();
    src.send({ kind: "step" } as LiveEvent); // no migration: nothing shown matches
    await new Promise((r) => setTimeout(r, 400));
    expect(fetches).toEqual({ a: 1, b: 1, rollouts: 1 });
  });

  it("never polls with polling switched off", async () => {
    localStorage.setItem("drover.poll", "off");
    const src = fakeSource();
    renderLive(src);
    expect(await screen.findByText("polling every false")).toBeInTheDocument();
    expect(screen.getByText("not evented every false")).toBeInTheDocument();
    src.connect();
    expect(screen.getByText("live every false")).toBeInTheDocument();
    expect(screen.getByText("not evented every false")).toBeInTheDocument();
  });
});
