import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { createServer, type AddressInfo } from "node:net";

/** Drover is a real `drover dev` process (embedded Temporal, SQLite, the demo migrator) for one test file. */
export type Drover = { url: string; dataDir: string; logs: string[]; stop: () => Promise<void> };

const repo = resolve(import.meta.dirname, "../..");

/** binary is $DROVER_BIN, or a drover built now from this checkout (which embeds console/build/ui). */
function binary(): string {
  if (process.env.DROVER_BIN) return process.env.DROVER_BIN;
  const out = join(mkdtempSync(join(tmpdir(), "drover-bin-")), "drover");
  execFileSync("go", ["build", "-o", out, "./cmd/drover"], { cwd: repo, stdio: "inherit" });
  return out;
}

/** startDrover runs `drover dev` on a fresh data directory, with extra flags and on addr (default any free port). */
export async function startDrover(extra: string[] = [], addr = "127.0.0.1:0"): Promise<Drover> {
  const dataDir = mkdtempSync(join(tmpdir(), "drover-e2e-"));
  const args = ["dev", "--data-dir", dataDir, "--addr", addr, "--temporal-port", "0", "--log-format", "json", ...extra];
  const proc: ChildProcess = spawn(binary(), args, { stdio: ["ignore", "ignore", "pipe"] });
  const logs: string[] = [];
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`drover dev did not serve within 120 s:\n${logs.join("\n")}`)), 120_000);
    proc.on("exit", (code) => fail(new Error(`drover dev exited with ${code}:\n${logs.join("\n")}`)));
    createInterface({ input: proc.stderr! }).on("line", (line) => {
      logs.push(line);
      try {
        const rec = JSON.parse(line);
        if (rec.msg === "drover is serving" && typeof rec.url === "string") {
          clearTimeout(timer);
          ok(rec.url);
        }
      } catch {
        /* not a log record */
      }
    });
  });
  const stop = async () => {
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { url, dataDir, logs, stop };
}

/** waitFor polls check until it returns a value other than undefined, or fails after timeoutMs. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** startDemo runs `drover dev` (as startDrover) and waits until its demo migration has its four candidates. */
export async function startDemo(extra: string[] = []): Promise<Drover> {
  const drover = await startDrover(extra);
  await waitFor("the demo migration's candidates", async () => {
    const res = await fetch(`${drover.url}/migrations/bump-go-version/candidates`);
    const cs = res.ok ? ((await res.json()) as unknown[]) : [];
    return cs.length === 4 ? cs : undefined;
  }, 60_000);
  return drover;
}

/** git runs git in a demo repository, as the person merging a pull request would. */
export function git(dataDir: string, candidate: string, ...args: string[]): string {
  return execFileSync("git", ["-C", join(dataDir, "demo", candidate), ...args], { encoding: "utf8" });
}

/** freePort asks the system for a free loopback port (for a redirect URL known before start). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, "127.0.0.1", ok));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((ok) => srv.close(ok));
  return port;
}

/** Idp is a mock OpenID Connect provider (internal/testsupport/mockidp) on loopback. */
export type Idp = { issuer: string; clientId: string; clientSecret: string; stop: () => void };

export async function startIdp(): Promise<Idp> {
  const proc = spawn("go", ["run", "./internal/testsupport/mockidp"], { cwd: repo, stdio: ["pipe", "pipe", "inherit"] });
  const line = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error("the mock identity provider did not start within 120 s")), 120_000);
    proc.on("exit", (code) => fail(new Error(`the mock identity provider exited with ${code}`)));
    createInterface({ input: proc.stdout! }).once("line", (l) => {
      clearTimeout(timer);
      ok(l);
    });
  });
  const cfg = JSON.parse(line) as Omit<Idp, "stop">;
  return { ...cfg, stop: () => proc.stdin!.end() };
}
