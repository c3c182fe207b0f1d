// Builds the browser page's script (the official client) with `bun build`, from either runtime.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url).href);

export function buildPageBundle(): string {
  const dir = mkdtempSync(join(tmpdir(), "petrel-page-"));
  try {
    const out = join(dir, "page.js");
    execFileSync(join(ROOT, "node_modules/.bin/bun"), [
      "build",
      join(ROOT, "test/browser/page.ts"),
      "--target=browser",
      "--format=esm",
      `--outfile=${out}`,
    ], { cwd: ROOT, stdio: "pipe", timeout: 60_000 });
    return readFileSync(out, "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>loading</title>
<script type="module" src="/page.js"></script></head>
<body>Petrel browser test</body></html>`;

/** Serves the test page and its script; anything else is a 404. */
export function pageFallback(bundle: string): (req: Request) => Response {
  return (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/") return new Response(PAGE_HTML, { headers: { "content-type": "text/html; charset=utf-8" } });
    if (path === "/page.js") {
      return new Response(bundle, { headers: { "content-type": "text/javascript; charset=utf-8" } });
    }
    return new Response("not found\n", { status: 404 });
  };
}
