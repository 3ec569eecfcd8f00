import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

export const artifacts = resolve(import.meta.dirname, "artifacts");

/** launch starts Debian's headless Chromium with the flags this closed network needs. */
export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** shoot saves a full-page screenshot as a test artifact, to look at: layout problems are bugs. */
export async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: resolve(artifacts, `${name}.png`), fullPage: true });
}

/**
 * clearArtifacts removes one test file's screenshots from an earlier run (the names it matches),
 * leaving the other files' alone: the files run in any order.
 */
export function clearArtifacts(names: RegExp): void {
  mkdirSync(artifacts, { recursive: true });
  for (const f of readdirSync(artifacts)) if (names.test(f)) rmSync(resolve(artifacts, f), { force: true });
}
