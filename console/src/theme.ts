import { useCallback, useEffect, useState } from "react";

export type Theme = "light" | "dark";

function systemTheme(): Theme {
  return typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function saved(): Theme | null {
  try {
    const t = localStorage.getItem("drover.theme");
    return t === "dark" || t === "light" ? t : null;
  } catch {
    return null;
  }
}

/** useTheme is the console's colour theme: the saved choice, else the system's; toggle saves it. */
export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(() => saved() ?? systemTheme());
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  const toggle = useCallback(() => {
    setTheme((t) => {
      const next = t === "dark" ? "light" : "dark";
      // Set now, not in an effect: the chart reads the theme's colours while this render commits.
      document.documentElement.dataset.theme = next;
      try {
        localStorage.setItem("drover.theme", next);
      } catch {
        /* private mode: the choice lasts for this page only */
      }
      return next;
    });
  }, []);
  return [theme, toggle];
}
