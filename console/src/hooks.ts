import { useEffect, useState } from "react";

/** useDebounced is value once it has stopped changing for ms, so typing sends one request, not one per key. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

/**
 * useNow is the current time (ms), ticking every ms while live, so a "waited for" text keeps
 * counting between polls whose answers have not changed. Without live it is the time of the render.
 */
export function useNow(live: boolean, ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!live) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [live, ms]);
  return live ? now : Date.now();
}
