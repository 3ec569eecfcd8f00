import { Link } from "react-router";

/** NotFound answers a console address that names no page. */
export function NotFound() {
  return (
    <section className="page">
      <h1>Nothing here</h1>
      <p>
        This address is not a page of the console. <Link to="/">See all migrations</Link>.
      </p>
    </section>
  );
}
