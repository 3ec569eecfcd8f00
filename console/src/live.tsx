import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { useQueryClient, type QueryKey } from "@tanstack/react-query";
import type { LiveEvent } from "./api/client";

/** The part of EventSource the console uses, so that tests can hand in a fake. */
export type LiveSource = {
  onopen: ((e: Event) => void) | null;
  onerror: ((e: Event) => void) | null;
  onmessage: ((e: MessageEvent) => void) | null;
  close(): void;
};
export type OpenLive = (url: string) => LiveSource;

/** Pages poll at least this slowly while live updates arrive: a safety net for a lost event. */
export const LIVE_POLL_MS = 30_000;
/** Events are taken in batches: a rollout's burst refetches each page once per batch. */
export const LIVE_BATCH_MS = 300;

const LiveContext = createContext(false);

/** keysFor is what a live event makes stale: the queries (by key prefix) that show it. */
export function keysFor(ev: LiveEvent): QueryKey[] {
  const m = ev.migrationId ?? "";
  const c = ev.candidateId ?? "";
  switch (ev.kind) {
    case "reset":
      return [[]]; // events were missed: everything
    case "migration":
    case "candidates":
      return [["migrations"], ["migration", m], ["candidates", m], ["progress", m], ["palette"]];
    case "candidate":
      return [["migrations"], ["migration", m], ["candidates", m], ["progress", m], ["candidate", m, c], ["steps", m, c], ["history", m, c]];
    case "step":
      return [["migration", m], ["candidates", m], ["candidate", m, c], ["steps", m, c], ["history", m, c]];
    case "rollout":
      return [["migration", m], ["rollouts", m], ["rollout", m, ev.rolloutId ?? ""]];
  }
  return [];
}

/** pollingOff is a switch for watching the live path alone: localStorage drover.poll = "off". */
function pollingOff(): boolean {
  try {
    return globalThis.localStorage?.getItem("drover.poll") === "off";
  } catch {
    return false;
  }
}

const defaultOpen: OpenLive | undefined =
  typeof EventSource === "undefined" ? undefined : (url) => new EventSource(url) as unknown as LiveSource;

/**
 * LiveProvider follows Drover's event stream and refetches what each change makes stale; while
 * it is connected, pages poll only as a safety net. Without EventSource (or while it
 * reconnects) pages poll as before.
 */
export function LiveProvider({ url, open = defaultOpen, children }: { url: string; open?: OpenLive; children: ReactNode }) {
  const qc = useQueryClient();
  const [live, setLive] = useState(false);
  useEffect(() => {
    if (!open) return;
    const src = open(url);
    const pending = new Map<string, QueryKey>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      const keys = [...pending.values()];
      pending.clear();
      for (const queryKey of keys) void qc.invalidateQueries({ queryKey });
    };
    src.onopen = () => setLive(true);
    // EventSource reconnects by itself, resuming from the last event id; pages poll meanwhile.
    src.onerror = () => setLive(false);
    src.onmessage = (m) => {
      let ev: LiveEvent;
      try {
        ev = JSON.parse(String(m.data)) as LiveEvent;
      } catch {
        return;
      }
      for (const key of keysFor(ev)) pending.set(JSON.stringify(key), key);
      timer ??= setTimeout(flush, LIVE_BATCH_MS);
    };
    return () => {
      src.close();
      if (timer) clearTimeout(timer);
      setLive(false);
    };
  }, [url, open, qc]);
  return <LiveContext.Provider value={live}>{children}</LiveContext.Provider>;
}

/** useLive reports whether live updates are arriving. */
export const useLive = () => useContext(LiveContext);

/** PollOptions says how live updates bear on a polled query. */
export type PollOptions = {
  /**
   * evented is false for data no live event refetches (keysFor names no key of it), e.g. a
   * webhook's delivery log: live updates then do not slow its polling down. Default true.
   */
  evented?: boolean;
};

/**
 * usePoll returns what a page's wanted polling interval becomes: as is without live updates,
 * at most every LIVE_POLL_MS with them (unless opts.evented is false), never with polling
 * switched off.
 */
export function usePoll(): (ms: number | false, opts?: PollOptions) => number | false {
  const live = useLive();
  const off = pollingOff();
  return (ms, opts) => (ms === false || off ? false : live && opts?.evented !== false ? Math.max(ms, LIVE_POLL_MS) : ms);
}
