import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider, createBrowserRouter } from "react-router";
import { ApiError, makeApi } from "./api/client";
import { ApiProvider } from "./api/context";
import { routes } from "./routes";
import "./styles.css";

// A 401 means the login is gone (or never was): asking who the console acts as again lets the
// header and the "not logged in" page catch up.
const recheckLogin = (err: unknown) => {
  if (err instanceof ApiError && err.status === 401) void queries.invalidateQueries({ queryKey: ["me"] });
};
const queries: QueryClient = new QueryClient({
  queryCache: new QueryCache({ onError: recheckLogin }),
  mutationCache: new MutationCache({ onError: recheckLogin }),
  defaultOptions: { queries: { retry: 1, staleTime: 1000, refetchOnWindowFocus: true } },
});
const router = createBrowserRouter(routes, { basename: "/ui" });

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ApiProvider api={makeApi("")}>
      <QueryClientProvider client={queries}>
        <RouterProvider router={router} />
      </QueryClientProvider>
    </ApiProvider>
  </StrictMode>,
);
