/** A scripted ScriptRunner and an in-memory TempFiles for the server auth/script unit tests. */
import type { ScriptResult, ScriptRunner } from '../../../../src/openvpn/server/script-runner.js';
import type { TempFiles } from '../../../../src/openvpn/server/temp-file.js';

export interface Call {
  argv: string[];
  env: Record<string, string>;
  /** The temporary files' contents while the script ran. */
  files: Map<string, string>;
}

/** Answers each run with `answer(call)` (default exit 0) and records the calls. */
export class FakeRunner implements ScriptRunner {
  calls: Call[] = [];
  constructor(
    private readonly tmp: FakeTemp | undefined = undefined,
    public answer: (c: Call) => Partial<ScriptResult> = () => ({ exitCode: 0 }),
  ) {}

  async run(argv: readonly string[], env: Readonly<Record<string, string>>): Promise<ScriptResult> {
    const call: Call = {
      argv: [...argv],
      env: { ...env },
      files: new Map(
        [...(this.tmp?.files ?? new Map<string, Buffer>())].map(([k, v]) => [k, v.toString('utf8')]),
      ),
    };
    this.calls.push(call);
    return { exitCode: undefined, signal: undefined, error: undefined, ...this.answer(call) };
  }
}

export class FakeTemp implements TempFiles {
  files = new Map<string, Buffer>();
  created: { dir: string; prefix: string; path: string }[] = [];
  private n = 0;
  failCreate = false;

  async create(dir: string, prefix: string, content: Uint8Array | string): Promise<string> {
    if (this.failCreate) throw new Error('disk full');
    const path = `${dir}/openvpn_${prefix}_${String(this.n++).padStart(16, '0')}.tmp`;
    this.files.set(path, Buffer.from(content));
    this.created.push({ dir, prefix, path });
    return path;
  }

  async read(path: string): Promise<Buffer> {
    const b = this.files.get(path);
    if (b === undefined) throw new Error(`ENOENT ${path}`);
    return b;
  }

  async remove(path: string): Promise<void> {
    this.files.delete(path);
  }
}
