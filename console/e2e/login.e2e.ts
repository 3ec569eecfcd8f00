import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { launch, shoot } from "./browser";
import { freePort, startDrover, startIdp, type Drover, type Idp } from "./drover";

// `drover dev` with single sign-on against a real (mock) OpenID Connect provider: the console
// asks for a login, the browser goes through the provider's redirects, and comes back logged in
// as jane.doe@example.com, an operator through her "engineering" group.
let idp: Idp;
let drover: Drover;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  idp = await startIdp();
  const port = await freePort();
  drover = await startDrover(
    [
      "--oidc-issuer", idp.issuer,
      "--oidc-client-id", idp.clientId,
      "--oidc-client-secret", idp.clientSecret,
      "--oidc-redirect-url", `http://127.0.0.1:${port}/auth/callback`,
      "--oidc-roles", "engineering=operator,admins=admin",
    ],
    `127.0.0.1:${port}`,
  );
  browser = await launch();
  page = await browser.newPage();
});

afterAll(async () => {
  await browser?.close();
  await drover?.stop();
  idp?.stop();
});

describe("single sign-on", () => {
  it("asks for a login, goes through the provider and comes back as the person, with their role", async () => {
    const anon = await fetch(`${drover.url}/migrations`);
    expect(anon.status).toBe(401);

    await page.goto(`${drover.url}/ui/migrations/bump-go-version`);
    await page.getByRole("heading", { name: "You are not logged in" }).waitFor();
    await page.getByRole("region", { name: "You are not logged in" }).getByRole("link", { name: "Log in" }).click();
    await page.waitForURL(`${drover.url}/ui/migrations/bump-go-version`);
    await page.getByText("jane.doe@example.com").waitFor();
    await expect(page.locator(".top .who").textContent()).resolves.toContain("operator");
    await shoot(page, "login-operator");

    // As an operator she may preview a candidate and start its run; the audit log names her.
    await page.goto(`${drover.url}/ui/migrations/bump-go-version/candidates/billing`);
    await page.getByLabel("Reviewer").fill("jane");
    await page.getByRole("button", { name: "Start run" }).click();
    await page.locator('li[data-step="branch"][data-status="succeeded"]').waitFor({ timeout: 30_000 });
    const audit = await page.evaluate(async () => (await (await fetch("/audit?candidate=billing")).json()) as { entries: { action: string; actorName?: string }[] });
    expect(audit.entries.find((e) => e.action === "startRun")?.actorName).toBe("jane.doe@example.com");

    // Logging out (a state change, sent with the session's CSRF token) ends the session.
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("heading", { name: "You are not logged in" }).waitFor();
    expect((await page.evaluate(async () => (await fetch("/migrations")).status))).toBe(401);
  });
});
