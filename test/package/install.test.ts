/**
 * The npm package as a user gets it: a copy of this working tree as a fresh clone would have it (the
 * files git tracks or would track, no dist/) is packed with `npm pack` (its prepack builds), and the
 * tarball is installed with `npm install` into an empty project. There the commands run through npm's
 * node_modules/.bin links, a TypeScript file importing 'ovpn-ts' is type-checked with this project's
 * tsc against the installed declarations, and an ES module imports the package and runs an AEAD round
 * trip (koffi and OpenSSL loaded from the installed package). Needs npm and the npm registry (koffi,
 * @types/node); not root. Every temporary folder goes, pass or fail.
 */
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OVPND_NODE_FLAGS } from '../../src/client/ovpnd-client.js';
import { repoRoot } from '../support/repo.js';

const ROOT = repoRoot();
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin?: Record<string, string>;
  devDependencies: Record<string, string>;
};
/** The commands the package must install: one per launcher in bin/ (today ovpn-agent, ovpn-cli, ovpn-ts, ovpnd). */
const COMMANDS = readdirSync(join(ROOT, 'bin')).sort();
/** This node first on PATH, so that npm, npx and the launchers' `node` are the one running the test. */
const ENV = {
  ...process.env,
  PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};

/** Runs a program to its end; `text` describes the run and its output, for assertion messages. */
function run(
  cmd: string,
  args: string[],
  cwd: string,
  timeout = 300_000,
): SpawnSyncReturns<string> & { text: string } {
  const r = spawnSync(cmd, args, { cwd, env: ENV, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  if (r.error !== undefined) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  const text = `$ ${cmd} ${args.join(' ')} (in ${cwd}): status ${r.status}, signal ${r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
  return { ...r, text };
}

function mustRun(cmd: string, args: string[], cwd: string): string {
  const r = run(cmd, args, cwd);
  assert.equal(r.status, 0, r.text);
  return r.stdout;
}

/** What `npm pack --json` reports of one tarball. */
interface PackResult {
  filename: string;
  files: { path: string }[];
}

describe('the npm package, installed from its tarball', { timeout: 600_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ovpn-ts-package-'));
  const clone = join(tmp, 'clone');
  const app = join(tmp, 'app');
  let packed: PackResult;
  let tarball: string;

  before(() => {
    // A fresh clone: what git tracks, plus new files not ignored (this tree's changes count), without
    // dist/; node_modules as `npm install` would leave it (linked, not copied).
    const listed = mustRun('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT);
    for (const f of listed.split('\0')) {
      if (f === '' || f === 'node_modules' || f.startsWith('node_modules/') || f.startsWith('dist/'))
        continue;
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(join(ROOT, f));
      } catch {
        continue; // deleted in the working tree, not yet in git
      }
      if (st.isDirectory()) continue; // a submodule; none expected
      mkdirSync(dirname(join(clone, f)), { recursive: true });
      cpSync(join(ROOT, f), join(clone, f), { verbatimSymlinks: true });
    }
    symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(clone, 'node_modules'));

    const out = join(tmp, 'out');
    mkdirSync(out);
    const json = mustRun('npm', ['pack', '--json', '--pack-destination', out], clone);
    const results = JSON.parse(json.slice(json.indexOf('['))) as PackResult[];
    assert.equal(results.length, 1);
    packed = results[0];
    tarball = join(out, packed.filename);

    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      `${JSON.stringify({ name: 'ovpn-ts-package-test', private: true, type: 'module' }, null, 2)}\n`,
    );
    // @types/node as any TypeScript user of a Node library has it (the declarations use Buffer etc.)
    mustRun('npm', ['install', tarball, `@types/node@${PKG.devDependencies['@types/node']}`], app);
  });

  after(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('packs the built library, the launchers and the docs, and no tests, sources or source maps', () => {
    assert.equal(packed.filename, `${PKG.name}-${PKG.version}.tgz`);
    const files = packed.files.map((f) => f.path);
    for (const f of [
      'package.json',
      'README.md',
      'docs/ovpn-api.yaml',
      'docs/ovpnd.md',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/cli/ovpnd.js',
      'dist/src/cli/ovpn-cli.js',
      'dist/src/cli/ovpn-agent.js',
      'dist/src/openvpn/main.js',
      'docs/client.md',
      ...COMMANDS.map((c) => `bin/${c}`),
    ])
      assert.ok(files.includes(f), `${f} is not in the tarball`);
    const unwanted = files.filter(
      (f) =>
        f.startsWith('test/') ||
        f.startsWith('dist/test/') ||
        f.startsWith('dist/bench/') ||
        f.startsWith('src/') ||
        f.startsWith('node_modules/') ||
        f.endsWith('.map') ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')),
    );
    assert.deepEqual(unwanted, []);
  });

  it('declares a command for each launcher in bin/', () => {
    assert.deepEqual(COMMANDS, ['ovpn-agent', 'ovpn-cli', 'ovpn-ts', 'ovpnd']);
    assert.deepEqual(
      PKG.bin,
      Object.fromEntries(COMMANDS.map((c) => [c, `bin/${c}`])),
      'package.json "bin" and the launchers in bin/ differ',
    );
  });

  it('links every command into node_modules/.bin, to the launcher in the installed package', () => {
    const installed = realpathSync(join(app, 'node_modules', PKG.name));
    for (const c of COMMANDS) {
      const link = join(app, 'node_modules', '.bin', c);
      assert.ok(lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink(), `${link} is not a symlink`);
      assert.equal(realpathSync(link), join(installed, 'bin', c));
    }
  });

  it('npx ovpn-cli --help prints the usage and exits 0; with no arguments, the usage on stderr and 255', () => {
    // --no: fail rather than fetch a registry package of that name when the command is missing;
    // --: what follows is the command's (npx would take --help for itself)
    const help = run('npx', ['--no', '--', 'ovpn-cli', '--help'], app);
    assert.equal(help.status, 0, help.text);
    assert.match(help.stdout, /^Usage: ovpn-cli <command> <iface> \[arguments\.\.\]\n/, help.text);
    assert.match(help.stdout, /^\* new_iface <iface> \[mode \[no-tun-offload\]/m, help.text);
    assert.match(help.stdout, /^\* listen_mcast \[--json\]/m, help.text);

    const bare = run('npx', ['--no', '--', 'ovpn-cli'], app);
    assert.equal(bare.status, 255, bare.text); // the kernel tool's usage exit, -1
    assert.equal(bare.stdout, '', bare.text);
    assert.match(bare.stderr, /^Usage: ovpn-cli <command> <iface>/m, bare.text);
  });

  it('npx ovpnd --help, npx ovpn-agent --help and npx ovpn-ts --help/--version print their usage and version', () => {
    const ovpnd = run('npx', ['--no', '--', 'ovpnd', '--help'], app);
    assert.equal(ovpnd.status, 0, ovpnd.text);
    assert.match(ovpnd.stdout, /^usage: ovpnd \[--socket NAME\] \[--quiet\]\n/, ovpnd.text);
    const bad = run('npx', ['--no', '--', 'ovpnd', '--no-such-flag'], app);
    assert.equal(bad.status, 2, bad.text);
    assert.match(bad.stderr, /^ovpnd: unknown argument --no-such-flag$/m, bad.text);

    const agent = run('npx', ['--no', '--', 'ovpn-agent', '--help'], app);
    assert.equal(agent.status, 0, agent.text);
    assert.match(agent.stdout, /^usage: ovpn-agent\n/, agent.text);

    const client = run('npx', ['--no', '--', 'ovpn-ts', '--help'], app);
    assert.equal(client.status, 0, client.text);
    assert.match(client.stdout, /^Usage: ovpn-ts --config client\.ovpn/, client.text);
    const version = run('npx', ['--no', '--', 'ovpn-ts', '--version'], app);
    assert.equal(version.status, 0, version.text);
    assert.match(version.stdout, new RegExp(`^ovpn-ts ${PKG.version.replace(/\./g, '\\.')} `), version.text);
  });

  it('the installed ovpnd serves, with the node flags of OVPND_NODE_FLAGS', async () => {
    const socketName = `ovpn-ts/package-test-${process.pid}`;
    const child = spawn(join(app, 'node_modules', '.bin', 'ovpnd'), ['--socket', socketName], {
      cwd: app,
      env: ENV,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`ovpnd did not start: ${stderr}`)), 20_000);
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (/ovpnd \d+ serving/.test(stderr)) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.on('close', (code) => {
          clearTimeout(timer);
          reject(new Error(`ovpnd exited (${code}) before serving: ${stderr}`));
        });
      });
      // the launcher exec'd node, so the child's pid is the daemon's
      const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
      const script = argv.findIndex((a) => a.endsWith('/dist/src/cli/ovpnd.js'));
      assert.ok(script > 0, argv.join(' '));
      assert.deepEqual(argv.slice(1, script), OVPND_NODE_FLAGS);
      assert.equal(
        argv[script],
        join(realpathSync(join(app, 'node_modules', PKG.name)), 'dist/src/cli/ovpnd.js'),
      );
      assert.deepEqual(argv.slice(script + 1), ['--socket', socketName]);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it("type-checks a TypeScript user of 'ovpn-ts' against the installed declarations (nodenext)", () => {
    const dir = join(app, 'ts');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022'],
          types: ['node'],
          strict: true,
          noEmit: true,
          // the package's own .d.ts files are checked too; those of its dependencies are theirs
          skipLibCheck: false,
        },
        files: ['user.ts'],
      }),
    );
    writeFileSync(
      join(dir, 'user.ts'),
      `import {
  AeadContext,
  CipherAlg,
  type ConnectOptions,
  type DaemonInfo,
  OvpnApi,
  type OvpnApiOptions,
  OvpndClient,
  OvpnError,
} from 'ovpn-ts';

const options: OvpnApiOptions = { batchSize: 64 };
const api: OvpnApi = new OvpnApi(options);
const names: string[] = api.devList().map((d) => d.ifname);
api.close();
const connect: (opts?: ConnectOptions) => Promise<OvpndClient> = OvpndClient.connect;
const info = async (c: OvpndClient): Promise<DaemonInfo> => c.daemonInfo();
const alg: number = CipherAlg.AES_GCM;
const ctx: typeof AeadContext = AeadContext;
const isOvpnError = (e: unknown): e is OvpnError => e instanceof OvpnError;

// The declarations are real types, not any: each of these must be an error.
// @ts-expect-error batchSize is a number
new OvpnApi({ batchSize: 'many' });
// @ts-expect-error no such export
import type { NoSuchExport } from 'ovpn-ts';
// @ts-expect-error only the package root and package.json are exported
import type {} from 'ovpn-ts/dist/src/index.js';

export { alg, connect, ctx, info, isOvpnError, names };
`,
    );
    const r = run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], dir);
    assert.equal(r.status, 0, r.text);
  });

  it("imports 'ovpn-ts' from an ES module, and seals and opens a packet with it (koffi, OpenSSL)", () => {
    writeFileSync(
      join(app, 'user.mjs'),
      `import { createRequire } from 'node:module';
import { AAD_SIZE, AeadContext, allocPinned, CipherAlg, OvpnApi, OvpndClient, OvpnError, PAYLOAD_OFFSET } from 'ovpn-ts';

const pkg = createRequire(import.meta.url)('ovpn-ts/package.json');
const api = new OvpnApi();
const devices = api.devList();
api.close();

const key = Buffer.alloc(32, 7);
const tail = Buffer.alloc(8, 9);
const enc = new AeadContext(CipherAlg.AES_GCM, key, tail, 'encrypt');
const dec = new AeadContext(CipherAlg.AES_GCM, key, tail, 'decrypt');
const text = Buffer.from('hello, tunnel');
const p = allocPinned(PAYLOAD_OFFSET + text.length);
p.buf.fill(0x48, 0, AAD_SIZE);
text.copy(p.buf, PAYLOAD_OFFSET);
const sealed = enc.seal(p.buf, p.addr, 0, text.length, 1);
const hidden = !p.buf.subarray(PAYLOAD_OFFSET).equals(text);
const opened = dec.open(p.buf, p.addr, 0, text.length, 1);
enc.close();
dec.close();

let deepImport;
try {
  await import('ovpn-ts/dist/src/index.js');
  deepImport = 'allowed';
} catch (e) {
  deepImport = e.code;
}

console.log(JSON.stringify({
  name: pkg.name,
  version: pkg.version,
  OvpnApi: typeof OvpnApi,
  OvpndClient: typeof OvpndClient,
  OvpnError: typeof OvpnError,
  devices,
  sealed,
  hidden,
  opened,
  text: p.buf.subarray(PAYLOAD_OFFSET).toString(),
  deepImport,
}));
`,
    );
    const r = run(process.execPath, ['user.mjs'], app);
    assert.equal(r.status, 0, r.text);
    assert.deepEqual(JSON.parse(r.stdout), {
      name: PKG.name,
      version: PKG.version,
      OvpnApi: 'function',
      OvpndClient: 'function',
      OvpnError: 'function',
      devices: [],
      sealed: true,
      hidden: true,
      opened: true,
      text: 'hello, tunnel',
      deepImport: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
  });
});
