import { createContext, useContext, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, Outlet } from "react-router";
import { useApi } from "../api/context";
import { useTheme, type Theme } from "../theme";
import { covers, loggedOut, loginHref, useMe } from "../me";
import { CommandPalette } from "./CommandPalette";
import { LoggedOut } from "./LoggedOut";
import { ToastProvider } from "./Toasts";
import { LiveProvider } from "../live";

const ThemeContext = createContext<Theme>("light");
export const useCurrentTheme = () => useContext(ThemeContext);

/** Layout is the frame of every page: the header with search, health and theme, then the page. */
export function Layout() {
  const api = useApi();
  const [theme, toggleTheme] = useTheme();
  const [palette, setPalette] = useState(false);
  const ready = useQuery({ queryKey: ["ready"], queryFn: api.ready, refetchInterval: 15000, retry: false });
  const me = useMe();
  const healthy = ready.data?.status === "ready";
  const problems = ready.data ? Object.entries(ready.data.checks).filter(([, v]) => v !== "ok") : [];

  return (
    <ThemeContext.Provider value={theme}>
      <LiveProvider url={api.liveUrl}>
        <ToastProvider>
          <header className="top">
            <Link to="/" className="brand">
              <img src={`${import.meta.env.BASE_URL}favicon.svg`} alt="" width={22} height={22} />
              Drover
            </Link>
            <nav>
              <Link to="/">Migrations</Link>
              {me.data && !loggedOut(me.data) && covers(me.data.role, "admin") && <Link to="/notifications">Notifications</Link>}
            </nav>
            <button type="button" className="search" onClick={() => setPalette(true)} aria-label="Jump to a migration or candidate">
              <span>Jump to…</span>
              <kbd>Ctrl K</kbd>
            </button>
            <span
              className={`health ${ready.isLoading ? "" : healthy ? "ok" : "bad"}`}
              title={ready.isError ? "Drover does not answer" : problems.map(([k, v]) => `${k}: ${v}`).join("\n") || "Store and Temporal answer"}
            >
              {ready.isLoading ? "…" : healthy ? "Connected" : ready.isError ? "Drover unreachable" : "Degraded"}
            </span>
            {me.data && (
              <span className="who" title={me.data.authRequired ? `Signed in as ${me.data.actor} (${me.data.via})` : "drover dev without login: everyone here acts as an admin"}>
                {loggedOut(me.data) ? (
                  me.data.loginUrl ? <a href={loginHref(me.data.loginUrl)}>Log in</a> : "Not logged in"
                ) : (
                  <>
                    {me.data.authRequired ? me.data.name : "No login"} · <strong>{me.data.role}</strong>
                    {me.data.via === "session" && (
                      <>
                        {" · "}
                        <button type="button" className="link" onClick={() => void api.logout().then(() => me.refetch())}>
                          Log out
                        </button>
                      </>
                    )}
                  </>
                )}
              </span>
            )}
            <button type="button" className="icon" onClick={toggleTheme} aria-label={`Switch to the ${theme === "dark" ? "light" : "dark"} theme`} title="Switch theme">
              {theme === "dark" ? "☀" : "☾"}
            </button>
          </header>
          {!ready.isLoading && !healthy && (
            <div className="banner" role="alert">
              {ready.isError
                ? "Drover does not answer. Pages show the last data they loaded; actions will fail until it is back."
                : `Drover cannot reach ${problems.map(([k]) => k).join(" and ")}: ${problems.map(([, v]) => v).join("; ")}`}
            </div>
          )}
          <main>{me.data && loggedOut(me.data) ? <LoggedOut me={me.data} /> : <Outlet />}</main>
          <CommandPalette open={palette} setOpen={setPalette} toggleTheme={toggleTheme} />
        </ToastProvider>
      </LiveProvider>
    </ThemeContext.Provider>
  );
}
