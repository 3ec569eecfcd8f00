import { render } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider, createMemoryRouter } from "react-router";
import { makeApi, type Candidate, type StepDefinition, type StepState } from "../api/client";
import { ApiProvider } from "../api/context";
import { routes } from "../routes";

export type Call = { method: string; path: string; query: URLSearchParams; body: unknown };
type Reply = { status?: number; body?: unknown; headers?: Record<string, string> };
type Route = (call: Call) => Reply | undefined;

/** fakeDrover answers the console's requests from a routing function and records every call. */
export function fakeDrover(route: Route) {
  const calls: Call[] = [];
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = input instanceof Request ? input : new Request(input, init);
    const url = new URL(req.url);
    const text = await req.text();
    const call: Call = { method: req.method, path: url.pathname, query: url.searchParams, body: text ? JSON.parse(text) : undefined };
    calls.push(call);
    const r = route(call) ?? { status: 404, body: { error: `no fake for ${req.method} ${url.pathname}` } };
    return new Response(r.body === undefined ? null : JSON.stringify(r.body), {
      status: r.status ?? 200,
      headers: { "Content-Type": "application/json", ...(r.headers ?? {}) },
    });
  };
  return { calls, api: makeApi("http://drover.test", fetchImpl as typeof fetch) };
}

/** stepDef is a step definition as a migrator announces it; migratorApp defaults to the fake's app id. */
export function stepDef(name: string, extra: Partial<StepDefinition> = {}): StepDefinition {
  return { name, migratorApp: "fake-migrator", ...extra };
}

/**
 * stepState is a run's step as Drover answers it: `candidate` is the candidate itself (at least
 * its id, kind and status), not its id.
 */
export function stepState(
  candidate: Pick<Candidate, "id" | "kind" | "status">,
  stepName: string,
  status: StepState["status"],
  extra: Partial<Omit<StepState, "stepName" | "candidate" | "status">> = {},
): StepState {
  return { stepName, candidate: { id: candidate.id, kind: candidate.kind, status: candidate.status }, status, ...extra };
}

/** renderAt renders the whole console at a path, against the given API; router navigates further. */
export function renderAt(path: string, api: ReturnType<typeof makeApi>) {
  const router = createMemoryRouter(routes, { initialEntries: [path] });
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const view = render(
    <ApiProvider api={api}>
      <QueryClientProvider client={qc}>
        <RouterProvider router={router} />
      </QueryClientProvider>
    </ApiProvider>,
  );
  return { ...view, router };
}
