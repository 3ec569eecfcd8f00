import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider, createBrowserRouter } from "react-router";
import { makeApi } from "./api/client";
import { ApiProvider } from "./api/context";
import { routes } from "./routes";
import "./styles.css";

const queries = new QueryClient({
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
