import type { RouteObject } from "react-router";
import { Layout } from "./components/Layout";
import { MigrationsPage } from "./pages/MigrationsPage";
import { MigrationPage } from "./pages/MigrationPage";
import { CandidatePage } from "./pages/CandidatePage";
import { NotFound } from "./pages/NotFound";

export const routes: RouteObject[] = [
  {
    element: <Layout />,
    children: [
      { index: true, element: <MigrationsPage /> },
      { path: "migrations/:migrationId", element: <MigrationPage /> },
      { path: "migrations/:migrationId/candidates/:candidateId", element: <CandidatePage /> },
      { path: "*", element: <NotFound /> },
    ],
  },
];
