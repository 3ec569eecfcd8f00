import { useQuery } from "@tanstack/react-query";
import type { Me, Role } from "./api/client";
import { useApi } from "./api/context";

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** covers says whether a caller's role includes what need allows: viewer < operator < admin. */
export function covers(role: Role | undefined, need: Role): boolean {
  return role !== undefined && Object.hasOwn(rank, role) && rank[role] >= rank[need];
}

/** useMe is who the console acts as (GET /auth/me), asked once and shared by every component. */
export function useMe() {
  const api = useApi();
  return useQuery({ queryKey: ["me"], queryFn: api.whoAmI, staleTime: 60000, retry: false });
}

/** loggedOut says whether Drover wants a login this caller has not given. */
export function loggedOut(me: Me | undefined): boolean {
  return Boolean(me?.authRequired && me.kind === "anonymous");
}

/**
 * useCan says whether the caller's role allows an action needing need, and if not, why (for a
 * disabled button's title). Until /auth/me has answered, or when it cannot, the console shows
 * the actions as before: Drover refuses what the caller may not do anyway.
 */
export function useCan(need: Role): { ok: boolean; why?: string } {
  const me = useMe().data;
  if (!me || covers(me.role, need)) return { ok: true };
  return { ok: false, why: `Needs the ${need} role; you are ${me.role || (loggedOut(me) ? "not logged in" : "without a role")}` };
}

/** loginHref is the SSO login that comes back to the page the person is on. */
export function loginHref(loginUrl: string): string {
  return `${loginUrl}?return=${encodeURIComponent(window.location.pathname + window.location.search)}`;
}
