import { Link } from "react-router";
import { describe } from "../api/client";

/** ErrorNote shows a failed request's message where the request was made; nothing fails silently. */
export function ErrorNote({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div className="error-note" role="alert">
      <span>{describe(error)}</span>
      {onRetry && (
        <button type="button" className="link" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** MigrationPageError is a page under a migration that could not load: the way back, and why. */
export function MigrationPageError({ migrationId, error, onRetry }: { migrationId: string; error: unknown; onRetry: () => void }) {
  return (
    <section className="page">
      <p className="crumbs">
        <Link to="/">Migrations</Link> / <Link to={`/migrations/${migrationId}`}>{migrationId}</Link>
      </p>
      <ErrorNote error={error} onRetry={onRetry} />
    </section>
  );
}
