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

/** stepItem is a step of the candidate page's timeline, optionally only while it has status. */
export function stepItem(page: Page, name: string, status?: string) {
  return page.locator(`li[data-step="${name}"]${status ? `[data-status="${status}"]` : ""}`);
}

/** markStep marks a pending step done or failed from the candidate page, with an optional reason. */
export async function markStep(page: Page, name: string, verb: "Mark done" | "Mark failed", reason?: string): Promise<void> {
  await stepItem(page, name, "pending").getByRole("button", { name: verb }).click();
  const dialog = page.getByRole("dialog");
  if (reason) await dialog.getByRole("textbox").fill(reason);
  await dialog.getByRole("button", { name: verb }).click();
  await dialog.waitFor({ state: "detached" });
}
