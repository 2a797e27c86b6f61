/** A real `sealgate serve` on loopback port 0, started and stopped by a test. */

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";

import { sealgateBin } from "./cli.js";

/** A running gateway: its base URL, and how to stop it. */
export interface RunningGateway {
  url: string;
  stop(): Promise<void>;
}

/** Starts `sealgate serve` with the memory store on free loopback ports, with `extra` flags. */
export function startGateway(extra: string[] = []): Promise<RunningGateway> {
  const child: ChildProcessWithoutNullStreams = spawn(sealgateBin(), ["serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--store", "memory", ...extra], { env: { ...process.env, NO_COLOR: "1" } });
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not start: ${log}`)), 20_000);
    child.on("exit", (code) => reject(new Error(`the gateway exited ${code}: ${log}`)));
    child.stderr.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      // eslint-disable-next-line no-control-regex
      const match = /api_addr\S*?(127\.0\.0\.1:\d+)/.exec(log.replace(/\x1b\[[0-9;]*m/g, ""));
      if (match) {
        clearTimeout(timer);
        resolve({
          url: `http://${match[1]}`,
          stop: () =>
            new Promise((done) => {
              child.removeAllListeners("exit");
              child.on("exit", () => done());
              child.kill("SIGTERM");
            }),
        });
      }
    });
  });
}
