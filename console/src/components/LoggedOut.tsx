import type { Me } from "../api/client";
import { loginHref } from "../me";

/** LoggedOut stands in for the pages when Drover wants a login: how to log in, or why one cannot here. */
export function LoggedOut({ me }: { me: Me }) {
  return (
    <section className="page logged-out" aria-labelledby="logged-out-title">
      <h1 id="logged-out-title">You are not logged in</h1>
      <p>This Drover lets only people it knows see its migrations or act on them.</p>
      {me.loginUrl ? (
        <p>
          <a className="button primary" href={loginHref(me.loginUrl)}>
            Log in
          </a>
        </p>
      ) : (
        <p className="muted">
          It takes API tokens only (sent as <code>Authorization: Bearer …</code>), and the console cannot take a token yet: use the API with a token an
          admin mints for you, or ask an admin to set up single sign-on for the console.
        </p>
      )}
    </section>
  );
}
