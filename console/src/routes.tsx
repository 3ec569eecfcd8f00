import type { RouteObject } from "react-router";
import { useParams } from "react-router";
import { Layout } from "./components/Layout";
import { MigrationsPage } from "./pages/MigrationsPage";
import { MigrationPage } from "./pages/MigrationPage";
import { CandidatePage } from "./pages/CandidatePage";
import { NotFound } from "./pages/NotFound";
import { RolloutPage } from "./pages/RolloutPage";
import { InsightsPage } from "./pages/InsightsPage";
import { NotificationsPage } from "./pages/NotificationsPage";

// A page keyed by its route's ids starts afresh for another migration or candidate, so a
// selection, a filter or a form never carries over to the next one.
function MigrationRoute() {
  const { migrationId } = useParams();
  return <MigrationPage key={migrationId} />;
}

function CandidateRoute() {
  const { migrationId, candidateId } = useParams();
  return <CandidatePage key={`${migrationId}/${candidateId}`} />;
}

function InsightsRoute() {
  const { migrationId } = useParams();
  return <InsightsPage key={migrationId} />;
}

function RolloutRoute() {
  const { migrationId, rolloutId } = useParams();
  return <RolloutPage key={`${migrationId}/${rolloutId}`} />;
}

export const routes: RouteObject[] = [
  {
    element: <Layout />,
    children: [
      { index: true, element: <MigrationsPage /> },
      { path: "migrations/:migrationId", element: <MigrationRoute /> },
      { path: "migrations/:migrationId/candidates/:candidateId", element: <CandidateRoute /> },
      { path: "migrations/:migrationId/rollouts/:rolloutId", element: <RolloutRoute /> },
      { path: "migrations/:migrationId/insights", element: <InsightsRoute /> },
      { path: "notifications", element: <NotificationsPage /> },
      { path: "*", element: <NotFound /> },
    ],
  },
];
