/**
 * From checked directives (directives.ts `checkDirectives(list, 'server')`) to ServerOptions, as
 * OpenVPN 2.6 reads a server config: directives in order (the later wins), then the helpers of
 * helper.c (helper_client_server for `server` and `server-ipv6`, helper_keepalive,
 * helper_tcp_nodelay, in that order, so their pushes follow the config's own `push` lines), then the
 * checks of options_postprocess_verify_ce for `mode server`. Every refusal is a ConfigError naming
 * the directive, file and line (or the first line of the config for a missing directive).
 */
import { isIP } from 'node:net';
import { isAbsolute, join } from 'node:path';
import {
  AEAD_CIPHERS,
  atoi,
  type CompressionFraming,
  DEFAULT_DATA_CIPHERS,
  err,
  type FileRef,
  fileRef,
  isRealCompression,
  keyDirection,
  normaliseCipherList,
  parsePort,
  pathRef,
  positiveAtoi,
  tlsVersion,
} from './client-options.js';
import type { CheckedDirective, ConfigNote } from './directives.js';
import {
  addIpv6,
  formatIpv4,
  formatIpv6,
  lastOf,
  netmaskToPrefix,
  parseIpv4,
  parseIpv6Net,
  prefixToNetmask,
} from './ip-address.js';
import { CMD_LINE } from './read.js';
import type { At, ServerOptions } from './server-options.js';
import { ConfigError, quoteForMessage } from './tokenize.js';

/** helper.c IFCONFIG_POOL_MIN_NETBITS: `server` networks of /16 or smaller. */
const POOL_MIN_PREFIX = 16;
/** pool.c IFCONFIG_POOL_MAX: addresses in one IPv4 pool. */
const POOL_MAX = 65536;

/** Where a directive was written. */
function at(d: CheckedDirective): At {
  return { file: d.file, line: d.line };
}

function ipv4(d: CheckedDirective, s: string, what: string): number {
  const v = parseIpv4(s);
  if (v === undefined) throw err(d, `bad ${what} ${quoteForMessage(s)}: an IPv4 address (a.b.c.d)`);
  return v;
}

/** `--ifconfig-pool` range check (pool.c ifconfig_pool_verify_range). */
function verifyPoolRange(d: CheckedDirective, start: number, end: number): void {
  if (start > end) {
    throw err(d, `the pool start IP [${formatIpv4(start)}] is greater than its end IP [${formatIpv4(end)}]`);
  }
  if (end - start + 1 > POOL_MAX) {
    throw err(
      d,
      `the pool range is too large [${formatIpv4(start)} -> ${formatIpv4(end)}]: at most ${POOL_MAX} addresses`,
    );
  }
}

function resolveDir(d: CheckedDirective, p: string): string {
  return isAbsolute(p) ? p : join(d.dir, p);
}

/**
 * Build the options of a server config. `env` gives TMPDIR (the `tmp-dir` default, as 2.6's
 * platform default); it defaults to process.env.
 */
export function buildServerOptions(
  directives: readonly CheckedDirective[],
  notes: ConfigNote[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): ServerOptions {
  const first: At = directives[0] ? at(directives[0]) : { file: CMD_LINE, line: 1 };
  const fail = (reason: string, directive?: string): ConfigError => new ConfigError(first, reason, directive);
  const note = (d: CheckedDirective, level: 'warn' | 'info', message: string): void => {
    notes.push({
      level,
      minVerb: level === 'warn' ? 1 : 3,
      file: d.file,
      line: d.line,
      directive: d.name,
      message,
    });
  };

  const o: ServerOptions = {
    listen: { proto: 'udp', family: 'dual', local: undefined, port: 1194 },
    dev: '',
    devType: 'tun',
    topology: 'net30', // init_options in 2.6 (2.7 makes subnet the server default)
    tunMtu: 1500,
    mssfix: { value: 0, mode: 'default' },
    ifconfig: undefined,
    ifconfigIpv6: undefined,
    pool: undefined,
    poolIpv6: undefined,
    poolPersist: undefined,
    duplicateCn: false,
    maxClients: 1024,
    clientToClient: false,
    clientConfigDir: undefined,
    ccdExclusive: false,
    routes: [],
    routesIpv6: [],
    routeGateway: undefined,
    push: [],
    ca: undefined,
    capath: undefined,
    cert: undefined,
    key: undefined,
    extraCerts: undefined,
    pkcs12: undefined,
    askpass: undefined,
    dh: undefined,
    verifyClientCert: 'require',
    remoteCertTls: undefined,
    remoteCertEku: undefined,
    remoteCertKu: undefined,
    nsCertType: undefined,
    verifyX509Name: undefined,
    crlVerify: undefined,
    tlsVersionMin: '1.2',
    tlsVersionMax: undefined,
    tlsCipher: undefined,
    tlsCiphersuites: undefined,
    tlsGroups: undefined,
    tlsCertProfile: undefined,
    tlsWrap: undefined,
    tlsCryptV2Verify: undefined,
    tlsCryptV2ForceCookie: true,
    dataCiphers: [],
    dataCiphersFallback: undefined,
    cipher: undefined,
    auth: 'SHA1',
    compression: 'none',
    allowCompression: undefined,
    renegSec: 3600,
    renegBytes: 0,
    renegPkts: 0,
    handWindow: 60,
    tranWindow: 3600,
    tlsTimeout: 2,
    ping: 0,
    pingRecvTimeout: 0,
    explicitExitNotify: 0,
    authUserPassVerify: undefined,
    usernameAsCommonName: false,
    authUserPassOptional: false,
    authGenToken: undefined,
    authGenTokenSecret: undefined,
    scriptSecurity: 1,
    scripts: {},
    tmpDir: env.TMPDIR || '/tmp',
    connectFreq: undefined,
    connectFreqInitial: { n: 100, seconds: 10 },
    status: undefined,
    statusVersion: 1,
    verb: 1,
    log: undefined,
    daemon: undefined,
    writepid: undefined,
    persistTun: false,
    persistKey: false,
    setenv: new Map(),
    notes,
  };

  let modeServer: CheckedDirective | undefined;
  let tlsServer: CheckedDirective | undefined;
  let dev: CheckedDirective | undefined;
  let devType: CheckedDirective | undefined;
  let protoFamily: 4 | 6 | undefined;
  let ipv6only = false;
  let server: { network: number; netmask: number; nopool: boolean; d: CheckedDirective } | undefined;
  let serverIpv6: { value: bigint; prefix: number; d: CheckedDirective } | undefined;
  let poolAt: CheckedDirective | undefined;
  let poolIpv6At: CheckedDirective | undefined;
  let keepalive: { ping: number; timeout: number; d: CheckedDirective } | undefined;
  let pingSet: CheckedDirective | undefined;
  let tcpNodelay = false;
  let dataCiphers: string[] | undefined;
  let cipherAt: CheckedDirective | undefined;
  let tlsAuth: FileRef | undefined;
  let tlsCrypt: FileRef | undefined;
  let tlsCryptV2: FileRef | undefined;
  let wrapAt: CheckedDirective | undefined;
  let keyDir: 0 | 1 | undefined;
  let connectFreqAt: CheckedDirective | undefined;
  let exitNotifyAt: CheckedDirective | undefined;
  let ifconfigPoolNetmaskAt: CheckedDirective | undefined;
  let persistAt: CheckedDirective | undefined;
  let ccdExclusiveAt: CheckedDirective | undefined;
  let authGenTokenAt: CheckedDirective | undefined;

  const compressionSet = (d: CheckedDirective, c: CompressionFraming): void => {
    if (isRealCompression(c)) {
      throw err(d, `refused: real compression (${c}) is not supported; use 'compress stub-v2' or none`);
    }
    o.compression = c;
  };

  for (const d of directives) {
    const a = d.args;
    switch (d.name) {
      case 'config':
        throw err(d, 'config includes must be expanded before building options (use load.ts)');
      case 'ignore-unknown-option':
      case 'cd':
        break;
      case 'setenv':
        o.setenv.set(a[0], a[1] ?? '');
        break;
      case 'setenv-safe':
        o.setenv.set(`OPENVPN_${a[0]}`, a[1] ?? '');
        break;
      case 'mode':
        if (a[0] === 'p2p') throw err(d, 'refused: point-to-point mode is not a server; use mode server');
        if (a[0] !== 'server') throw err(d, `bad mode ${quoteForMessage(a[0])}: p2p or server`);
        modeServer = d;
        break;
      case 'tls-server':
        tlsServer = d;
        break;
      case 'server': {
        const network = ipv4(d, a[0], 'network');
        const netmask = ipv4(d, a[1], 'netmask');
        if (a[2] !== undefined && a[2] !== 'nopool') {
          throw err(d, `unknown option ${quoteForMessage(a[2])}: only 'nopool'`);
        }
        server = { network, netmask, nopool: a[2] === 'nopool', d };
        break;
      }
      case 'server-ipv6': {
        const n = parseIpv6Net(a[0]);
        if (!n) throw err(d, `bad IPv6 network ${quoteForMessage(a[0])}: address/bits`);
        if (n.prefix < 64 || n.prefix > 124) {
          throw err(d, `the network must be between /64 and /124 (not /${n.prefix})`);
        }
        serverIpv6 = { ...n, d };
        break;
      }
      case 'dev':
        dev = d;
        break;
      case 'dev-type':
        devType = d;
        break;
      case 'topology':
        if (a[0] !== 'net30' && a[0] !== 'p2p' && a[0] !== 'subnet') {
          throw err(d, `bad topology ${quoteForMessage(a[0])}: net30, p2p or subnet`);
        }
        o.topology = a[0];
        break;
      case 'tun-mtu': {
        const mtu = positiveAtoi(a[0]);
        if (mtu < 100 || mtu > 65536) throw err(d, 'the MTU must be between 100 and 65536');
        o.tunMtu = mtu;
        break;
      }
      case 'mssfix':
        if (a[0] === undefined) o.mssfix = { value: 0, mode: 'default' };
        else {
          const mode =
            a[1] === undefined ? 'plain' : a[1] === 'mtu' ? 'mtu' : a[1] === 'fixed' ? 'fixed' : undefined;
          if (!mode) throw err(d, `unknown parameter ${quoteForMessage(a[1])}: 'mtu' or 'fixed'`);
          o.mssfix = { value: positiveAtoi(a[0]), mode };
        }
        break;
      case 'proto': {
        const m = /^(udp|tcp)([46]?)(-client|-server)?$/.exec(a[0]);
        if (!m || (m[1] === 'udp' && m[3])) {
          throw err(
            d,
            `bad protocol ${quoteForMessage(a[0])}: udp, tcp, udp4, tcp4, udp6, tcp6 (or tcp*-server)`,
          );
        }
        if (m[3] === '-client') {
          throw err(d, `refused: ${a[0]} is the client side of TCP; a server listens (tcp or tcp-server)`);
        }
        o.listen.proto = m[1] as 'udp' | 'tcp';
        protoFamily = m[2] === '4' ? 4 : m[2] === '6' ? 6 : undefined;
        break;
      }
      case 'port':
      case 'lport':
        o.listen.port = parsePort(d, a[0]);
        break;
      case 'local':
        o.listen.local = a[0];
        break;
      case 'bind':
        if (a[0] !== undefined && a[0] !== 'ipv6only') {
          throw err(d, `unknown parameter ${quoteForMessage(a[0])}: only 'ipv6only'`);
        }
        ipv6only = a[0] === 'ipv6only';
        break;
      case 'tcp-nodelay':
        tcpNodelay = true;
        break;
      case 'explicit-exit-notify':
        o.explicitExitNotify = a[0] === undefined ? 1 : positiveAtoi(a[0]);
        exitNotifyAt = d;
        break;
      case 'ifconfig': {
        const local = ipv4(d, a[0], 'local address');
        ipv4(d, a[1], 'remote address or netmask');
        o.ifconfig = { local: formatIpv4(local), remoteOrPrefix: a[1], topology: o.topology };
        break;
      }
      case 'ifconfig-ipv6': {
        const n = parseIpv6Net(a[0]);
        if (!n) throw err(d, `bad IPv6 address ${quoteForMessage(a[0])}: address/bits`);
        o.ifconfigIpv6 = { address: formatIpv6(n.value), prefix: n.prefix };
        break;
      }
      case 'ifconfig-pool': {
        const start = ipv4(d, a[0], 'pool start');
        const end = ipv4(d, a[1], 'pool end');
        if (a[2] !== undefined) {
          const mask = ipv4(d, a[2], 'netmask');
          if (netmaskToPrefix(mask) < 0) throw err(d, `bad netmask ${quoteForMessage(a[2])}`);
          ifconfigPoolNetmaskAt = d;
        }
        verifyPoolRange(d, start, end);
        o.pool = { start: formatIpv4(start), end: formatIpv4(end), netmask: a[2] };
        poolAt = d;
        break;
      }
      case 'ifconfig-ipv6-pool': {
        const n = parseIpv6Net(a[0]);
        if (!n) throw err(d, `bad IPv6 pool ${quoteForMessage(a[0])}: address/bits`);
        o.poolIpv6 = { address: formatIpv6(n.value), prefix: n.prefix };
        poolIpv6At = d;
        break;
      }
      case 'ifconfig-pool-persist':
        o.poolPersist = { ref: pathRef(d), seconds: a[1] === undefined ? 600 : positiveAtoi(a[1]) };
        persistAt = d;
        break;
      case 'duplicate-cn':
        o.duplicateCn = true;
        break;
      case 'max-clients': {
        const n = atoi(a[0]);
        if (n < 1) throw err(d, 'must be at least 1');
        o.maxClients = n;
        break;
      }
      case 'client-to-client':
        o.clientToClient = true;
        break;
      case 'client-config-dir':
        o.clientConfigDir = resolveDir(d, a[0]);
        break;
      case 'ccd-exclusive':
        o.ccdExclusive = true;
        ccdExclusiveAt = d;
        break;
      case 'route': {
        const network = ipv4(d, a[0], 'route network');
        const mask = a[1] === undefined || a[1] === 'default' ? 0xffffffff : ipv4(d, a[1], 'route netmask');
        if (netmaskToPrefix(mask) < 0) throw err(d, `bad netmask ${quoteForMessage(a[1] ?? '')}`);
        if ((network & ~mask) >>> 0 !== 0) {
          throw err(d, `${a[0]} has bits set outside the netmask ${formatIpv4(mask)}`);
        }
        o.routes.push({
          network: formatIpv4(network),
          netmask: formatIpv4(mask),
          gateway: a[2] === undefined || a[2] === 'default' ? undefined : a[2],
          metric: a[3] === undefined || a[3] === 'default' ? undefined : positiveAtoi(a[3]),
          at: at(d),
        });
        break;
      }
      case 'route-ipv6': {
        const n = parseIpv6Net(a[0]);
        if (!n) throw err(d, `bad IPv6 network ${quoteForMessage(a[0])}: address/bits`);
        o.routesIpv6.push({
          network: { address: formatIpv6(n.value), prefix: n.prefix },
          gateway: a[1] === undefined || a[1] === 'default' ? undefined : a[1],
          metric: a[2] === undefined || a[2] === 'default' ? undefined : positiveAtoi(a[2]),
          at: at(d),
        });
        break;
      }
      case 'route-gateway':
        if (a[0] !== 'dhcp') ipv4(d, a[0], 'gateway');
        else throw err(d, "refused: 'route-gateway dhcp' is for dev tap");
        o.routeGateway = a[0];
        break;
      case 'push':
        o.push.push(a[0]);
        break;
      case 'keepalive':
        keepalive = { ping: atoi(a[0]), timeout: atoi(a[1]), d };
        break;
      case 'ping':
        o.ping = positiveAtoi(a[0]);
        pingSet = d;
        break;
      case 'ping-restart':
        o.pingRecvTimeout = positiveAtoi(a[0]);
        pingSet = d;
        break;
      case 'ca':
        o.ca = fileRef(d);
        break;
      case 'capath':
        o.capath = a[0];
        break;
      case 'cert':
        o.cert = fileRef(d);
        break;
      case 'key':
        o.key = fileRef(d);
        break;
      case 'extra-certs':
        o.extraCerts = fileRef(d);
        break;
      case 'pkcs12':
        o.pkcs12 = fileRef(d);
        break;
      case 'askpass':
        o.askpass = a[0] === undefined || a[0] === 'stdin' ? 'prompt' : pathRef(d);
        break;
      case 'dh':
        o.dh = d.inline === undefined && a[0] === 'none' ? 'none' : fileRef(d);
        break;
      case 'verify-client-cert': {
        const v = a[0] ?? 'require';
        if (v !== 'none' && v !== 'optional' && v !== 'require') {
          throw err(d, `bad parameter ${quoteForMessage(v)}: none, optional or require`);
        }
        o.verifyClientCert = v;
        break;
      }
      case 'remote-cert-tls':
        if (a[0] !== 'client' && a[0] !== 'server') throw err(d, "must be 'client' or 'server'");
        o.remoteCertTls = a[0];
        break;
      case 'remote-cert-eku':
        o.remoteCertEku = a[0];
        break;
      case 'remote-cert-ku':
        if (a.length === 0) o.remoteCertKu = 'required';
        else {
          o.remoteCertKu = a.map((x) => {
            if (!/^[0-9a-fA-F]{1,4}$/.test(x)) throw err(d, `bad key usage ${quoteForMessage(x)}: hex`);
            return Number.parseInt(x, 16);
          });
        }
        break;
      case 'ns-cert-type':
        if (a[0] !== 'client' && a[0] !== 'server') throw err(d, "must be 'client' or 'server'");
        o.nsCertType = a[0];
        break;
      case 'verify-x509-name': {
        const type = a[1] ?? 'subject';
        if (type !== 'subject' && type !== 'name' && type !== 'name-prefix') {
          throw err(d, `unknown type ${quoteForMessage(type)}: subject, name or name-prefix`);
        }
        o.verifyX509Name = { name: a[0], type };
        break;
      }
      case 'crl-verify':
        if (a[1] !== undefined && a[1] !== 'dir')
          throw err(d, `unknown parameter ${quoteForMessage(a[1])}: only 'dir'`);
        if (a[1] === 'dir' && d.inline !== undefined) throw err(d, 'a CRL directory cannot be inline');
        o.crlVerify = { ref: fileRef(d), dir: a[1] === 'dir' };
        break;
      case 'tls-version-min':
        o.tlsVersionMin = tlsVersion(d, a[0], a[1]);
        break;
      case 'tls-version-max':
        o.tlsVersionMax = tlsVersion(d, a[0], undefined);
        break;
      case 'tls-cipher':
        o.tlsCipher = a[0];
        break;
      case 'tls-ciphersuites':
        o.tlsCiphersuites = a[0];
        break;
      case 'tls-groups':
        o.tlsGroups = a[0];
        break;
      case 'tls-cert-profile':
        if (!['insecure', 'legacy', 'preferred', 'suiteb'].includes(a[0])) {
          throw err(d, `unknown profile ${quoteForMessage(a[0])}: insecure, legacy, preferred or suiteb`);
        }
        o.tlsCertProfile = a[0];
        break;
      case 'tls-timeout':
        o.tlsTimeout = positiveAtoi(a[0]);
        break;
      case 'hand-window':
        o.handWindow = positiveAtoi(a[0]);
        break;
      case 'tran-window':
        o.tranWindow = positiveAtoi(a[0]);
        break;
      case 'reneg-sec':
        o.renegSec = positiveAtoi(a[0]);
        break;
      case 'reneg-bytes':
        o.renegBytes = positiveAtoi(a[0]);
        break;
      case 'reneg-pkts':
        o.renegPkts = positiveAtoi(a[0]);
        break;
      case 'key-direction':
        keyDir = keyDirection(d, a[0]);
        break;
      case 'tls-auth':
        tlsAuth = fileRef(d);
        wrapAt = d;
        if (d.inline === undefined && a[1] !== undefined) keyDir = keyDirection(d, a[1]);
        break;
      case 'tls-crypt':
        tlsCrypt = fileRef(d);
        wrapAt = d;
        break;
      case 'tls-crypt-v2':
        tlsCryptV2 = fileRef(d);
        wrapAt = d;
        if (d.inline === undefined && a[1] !== undefined) {
          if (a[1] === 'force-cookie') o.tlsCryptV2ForceCookie = true;
          else if (a[1] === 'allow-noncookie') o.tlsCryptV2ForceCookie = false;
          else
            throw err(d, `unsupported parameter ${quoteForMessage(a[1])}: force-cookie or allow-noncookie`);
        }
        break;
      case 'tls-crypt-v2-verify':
        o.tlsCryptV2Verify = a[0];
        break;
      case 'cipher':
        o.cipher = a[0];
        cipherAt = d;
        break;
      case 'ncp-ciphers':
      case 'data-ciphers':
        if (d.name === 'ncp-ciphers') note(d, 'info', "treated as 'data-ciphers' (renamed in OpenVPN 2.5)");
        dataCiphers = normaliseCipherList(d, a[0], notes);
        break;
      case 'data-ciphers-fallback': {
        const c = a[0].toUpperCase();
        if (!AEAD_CIPHERS.includes(c)) {
          throw err(
            d,
            `refused: ${quoteForMessage(a[0])} is not an AEAD cipher; the data plane only does AEAD`,
          );
        }
        o.dataCiphersFallback = c;
        break;
      }
      case 'auth':
        o.auth = a[0].toUpperCase();
        break;
      case 'comp-lzo':
        if (a[0] === 'no') compressionSet(d, 'lzo-stub');
        else if (a[0] === undefined || a[0] === 'yes' || a[0] === 'adaptive') compressionSet(d, 'lzo');
        else throw err(d, `bad parameter ${quoteForMessage(a[0])}: yes, no or adaptive`);
        break;
      case 'compress': {
        const alg = a[0] ?? 'stub';
        if (alg === 'stub' || alg === 'stub-v2' || alg === 'lzo' || alg === 'lz4' || alg === 'lz4-v2') {
          compressionSet(d, alg);
        } else if (alg === 'migrate') {
          throw err(d, 'refused: compress migrate is not supported');
        } else throw err(d, `bad compression ${quoteForMessage(alg)}`);
        break;
      }
      case 'allow-compression':
        if (a[0] !== 'no' && a[0] !== 'asym' && a[0] !== 'yes') throw err(d, "must be 'yes', 'no' or 'asym'");
        if (a[0] !== 'no' && o.allowCompression === 'no')
          throw err(d, `cannot set allow-compression to '${a[0]}' after it was set to 'no'`);
        o.allowCompression = a[0];
        break;
      case 'auth-user-pass-verify':
        if (a[1] !== 'via-file' && a[1] !== 'via-env') {
          throw err(d, `second parameter must be 'via-env' or 'via-file', not ${quoteForMessage(a[1])}`);
        }
        o.authUserPassVerify = { command: a[0], method: a[1], at: at(d) };
        break;
      case 'username-as-common-name':
        o.usernameAsCommonName = true;
        break;
      case 'auth-user-pass-optional':
        o.authUserPassOptional = true;
        break;
      case 'auth-gen-token': {
        const t = {
          lifetime: a[0] === undefined ? 0 : positiveAtoi(a[0]),
          renewal: undefined as number | undefined,
          externalAuth: false,
        };
        for (let i = 1; i < a.length; i++) {
          if (i === 1 && /^\d+$/.test(a[i])) t.renewal = positiveAtoi(a[i]);
          else if (a[i] === 'external-auth') t.externalAuth = true;
          else throw err(d, `invalid argument ${quoteForMessage(a[i])} (${i + 1})`);
        }
        o.authGenToken = t;
        authGenTokenAt = d;
        break;
      }
      case 'auth-gen-token-secret':
        o.authGenTokenSecret = fileRef(d);
        break;
      case 'script-security':
        o.scriptSecurity = atoi(a[0]);
        if (o.scriptSecurity < 0 || o.scriptSecurity > 3) throw err(d, 'must be 0, 1, 2 or 3');
        break;
      case 'up':
        o.scripts.up = a[0];
        break;
      case 'down':
        o.scripts.down = a[0];
        break;
      case 'client-connect':
        o.scripts.clientConnect = a[0];
        break;
      case 'client-disconnect':
        o.scripts.clientDisconnect = a[0];
        break;
      case 'learn-address':
        o.scripts.learnAddress = a[0];
        break;
      case 'tls-verify':
        o.scripts.tlsVerify = a[0];
        break;
      case 'tmp-dir':
        o.tmpDir = a[0];
        break;
      case 'connect-freq': {
        const n = atoi(a[0]);
        const s = atoi(a[1]);
        if (n < 1 || s < 1) throw err(d, 'parameters must be > 0');
        o.connectFreq = { n, seconds: s };
        connectFreqAt = d;
        break;
      }
      case 'connect-freq-initial': {
        const n = atoi(a[0]);
        const s = atoi(a[1]);
        if (n < 1 || s < 1) throw err(d, 'parameters must be > 0');
        o.connectFreqInitial = { n, seconds: s };
        break;
      }
      case 'status':
        o.status = { ref: pathRef(d), seconds: a[1] === undefined ? 60 : positiveAtoi(a[1]) };
        break;
      case 'status-version': {
        const v = atoi(a[0]);
        if (v !== 1 && v !== 2 && v !== 3) throw err(d, 'must be 1, 2 or 3');
        o.statusVersion = v;
        break;
      }
      case 'verb':
        o.verb = Math.min(Math.max(atoi(a[0]), 0), 11);
        break;
      case 'log':
      case 'log-append':
        o.log = { ref: pathRef(d), append: d.name === 'log-append' };
        break;
      case 'daemon':
        o.daemon = a[0] ?? true;
        break;
      case 'writepid':
        o.writepid = pathRef(d);
        break;
      case 'persist-tun':
        o.persistTun = true;
        break;
      case 'persist-key':
        o.persistKey = true;
        break;
      default:
        throw err(d, 'honoured in the server table but not read by server-options-build (a bug in ovpn-ts)');
    }
  }

  // The device: only tun (dev_type_enum: dev-type if given, else the prefix of the name).
  if (!dev) throw fail("'dev' is missing: use 'dev tun'", 'dev');
  const devName = dev.args[0];
  const typeWord =
    devType?.args[0] ??
    (devName.startsWith('tun')
      ? 'tun'
      : devName.startsWith('tap')
        ? 'tap'
        : devName.startsWith('null')
          ? 'null'
          : undefined);
  const typeAt = devType ?? dev;
  if (typeWord === 'tap') {
    throw err(typeAt, 'refused: dev tap (layer 2) is not supported; ovpn-ts is layer 3 only (dev tun)');
  }
  if (typeWord === 'null') throw err(typeAt, '--server directive only makes sense with --dev tun');
  if (typeWord !== 'tun') {
    throw err(typeAt, `cannot tell the device type of ${quoteForMessage(devName)}: add 'dev-type tun'`);
  }
  o.dev = devName;

  // helper_client_server: server-ipv6 first, then server.
  if (serverIpv6) {
    const d = serverIpv6.d;
    if (server?.nopool) throw err(d, "--server-ipv6 is incompatible with 'nopool' option");
    if (poolIpv6At) {
      throw err(poolIpv6At, '--server-ipv6 already defines an ifconfig-ipv6-pool; it cannot also be given');
    }
    o.ifconfigIpv6 = { address: formatIpv6(addIpv6(serverIpv6.value, 1)), prefix: serverIpv6.prefix };
    o.poolIpv6 = {
      address: formatIpv6(addIpv6(serverIpv6.value, serverIpv6.prefix < 112 ? 0x1000 : 2)),
      prefix: serverIpv6.prefix,
    };
    poolIpv6At = d;
    o.push.push('tun-ipv6');
  }
  if (server) {
    const { network, netmask, nopool, d } = server;
    if (!nopool && poolAt) {
      throw err(poolAt, '--server already defines an ifconfig-pool, so it cannot also be given explicitly');
    }
    const prefix = netmaskToPrefix(netmask);
    // netmask_to_netbits: a non-contiguous netmask fails the same way as host bits in the network
    if (prefix < 0 || (network & ~netmask) >>> 0 !== 0) {
      throw err(d, 'the network/netmask combination is invalid');
    }
    if (prefix < POOL_MIN_PREFIX) {
      throw err(
        d,
        `the netmask allows for too many host addresses (subnet must be ${formatIpv4(prefixToNetmask(POOL_MIN_PREFIX))} (/${POOL_MIN_PREFIX}) or higher)`,
      );
    }
    if (prefix > 29) {
      throw err(d, `with dev tun the subnet must be ${formatIpv4(prefixToNetmask(29))} (/29) or lower`);
    }
    const last = lastOf(network, netmask);
    if (o.topology === 'net30' || o.topology === 'p2p') {
      o.ifconfig = {
        local: formatIpv4(network + 1),
        remoteOrPrefix: formatIpv4(network + 2),
        topology: o.topology,
      };
      if (!nopool) {
        const start = network + 4;
        const end = last - (prefix === 29 ? 0 : 4);
        verifyPoolRange(d, start, end);
        o.pool = { start: formatIpv4(start), end: formatIpv4(end), netmask: undefined };
        poolAt = d;
      }
      o.routes.push({
        network: formatIpv4(network),
        netmask: formatIpv4(netmask),
        gateway: undefined,
        metric: undefined,
        at: at(d),
      });
      if (o.clientToClient) o.push.push(`route ${formatIpv4(network)} ${formatIpv4(netmask)}`);
      else if (o.topology === 'net30') o.push.push(`route ${formatIpv4(network + 1)}`);
    } else {
      o.ifconfig = { local: formatIpv4(network + 1), remoteOrPrefix: String(prefix), topology: 'subnet' };
      if (!nopool) {
        const start = network + 2;
        const end = last - 1;
        verifyPoolRange(d, start, end);
        o.pool = { start: formatIpv4(start), end: formatIpv4(end), netmask: formatIpv4(netmask) };
        poolAt = d;
      }
      o.push.push(`route-gateway ${formatIpv4(network + 1)}`);
      if (o.routeGateway === undefined) o.routeGateway = formatIpv4(network + 2);
    }
    o.push.push(`topology ${o.topology}`);
    if (o.topology === 'net30' && !nopool) {
      note(
        d,
        'warn',
        'topology net30 with an IPv4 pool is deprecated (OpenVPN 2.6 warns too): use topology subnet',
      );
    }
  } else if (o.ifconfig && o.topology === 'subnet') {
    // `ifconfig local netmask` in subnet topology: the netmask as a prefix length
    const mask = parseIpv4(o.ifconfig.remoteOrPrefix) ?? 0;
    const p = netmaskToPrefix(mask);
    if (p < 0) throw fail(`ifconfig: bad netmask ${quoteForMessage(o.ifconfig.remoteOrPrefix)}`, 'ifconfig');
    o.ifconfig = { ...o.ifconfig, remoteOrPrefix: String(p), topology: 'subnet' };
  } else if (o.ifconfig) {
    o.ifconfig = { ...o.ifconfig, topology: o.topology };
  }

  const isServer = server !== undefined || serverIpv6 !== undefined || modeServer !== undefined;
  if (!isServer) {
    if (tlsServer) {
      throw err(
        tlsServer,
        "refused: tls-server without 'mode server' is a point-to-point TLS server; ovpn-ts serves many clients: add 'server network netmask' (or 'mode server')",
      );
    }
    throw fail("not a server config: add 'server network netmask' (or 'mode server' with 'tls-server')");
  }
  if (!tlsServer && server === undefined && serverIpv6 === undefined) {
    throw err(modeServer ?? directives[0], '--mode server requires --tls-server');
  }

  // helper_keepalive, server side: we ping every a s, drop after 2b s; clients get ping a / ping-restart b.
  if (keepalive) {
    const { ping, timeout, d } = keepalive;
    if (ping <= 0 || timeout <= 0) throw err(d, 'parameters must be > 0');
    if (ping * 2 > timeout) {
      throw err(d, `the restart timeout (${timeout}) must be at least twice the ping interval (${ping})`);
    }
    if (pingSet) {
      throw err(d, `conflicts with ${pingSet.name} (${pingSet.file}:${pingSet.line}); keepalive sets both`);
    }
    o.ping = ping;
    o.pingRecvTimeout = timeout * 2;
    o.push.push(`ping ${ping}`, `ping-restart ${timeout}`);
  }
  // helper_tcp_nodelay, server side: the socket flag here (set by ovpn-ts anyway) and pushed.
  if (tcpNodelay) o.push.push('socket-flags TCP_NODELAY');

  // The listening socket: `tcp` on a server is tcp-server; without `local` 2.6 listens dual-stack.
  if (protoFamily !== undefined) o.listen.family = protoFamily;
  else if (o.listen.local !== undefined && isIP(o.listen.local) !== 0)
    o.listen.family = isIP(o.listen.local) as 4 | 6;
  else o.listen.family = 'dual';
  if (ipv6only && o.listen.family === 'dual') o.listen.family = 6;
  if (ipv6only && o.listen.family === 6) o.listen.ipv6only = true;

  // options_postprocess_verify_ce, mode server.
  if (connectFreqAt && o.listen.proto !== 'udp') {
    throw err(connectFreqAt, 'only works with proto udp; try max-clients instead');
  }
  if (exitNotifyAt && o.explicitExitNotify > 0 && o.listen.proto === 'tcp') {
    note(exitNotifyAt, 'warn', 'ignored for proto tcp: clients see the connection close');
    o.explicitExitNotify = 0;
  }
  if (ifconfigPoolNetmaskAt && o.topology !== 'subnet') {
    throw err(ifconfigPoolNetmaskAt, 'the third parameter (netmask) is only valid with topology subnet');
  }
  if (persistAt && !o.pool && !o.poolIpv6) {
    throw err(persistAt, 'must be used with ifconfig-pool or ifconfig-ipv6-pool (or server)');
  }
  if (poolIpv6At && !o.ifconfigIpv6) throw err(poolIpv6At, '--ifconfig-ipv6-pool needs --ifconfig-ipv6');
  if (ccdExclusiveAt && !o.clientConfigDir) {
    throw err(ccdExclusiveAt, '--ccd-exclusive must be used with --client-config-dir');
  }
  if (authGenTokenAt && o.renegSec === 0) {
    throw err(authGenTokenAt, 'needs a non-infinite reneg-sec (reneg-sec 0 is set)');
  }
  const checker = o.authUserPassVerify !== undefined;
  if (o.verifyClientCert !== 'require' && !checker) {
    throw fail(
      `--verify-client-cert ${o.verifyClientCert} must be used with an --auth-user-pass-verify script`,
      'verify-client-cert',
    );
  }
  if (o.usernameAsCommonName && !checker) {
    throw fail(
      '--username-as-common-name must be used with an --auth-user-pass-verify script',
      'username-as-common-name',
    );
  }
  if (o.authUserPassOptional && !checker) {
    throw fail(
      '--auth-user-pass-optional must be used with an --auth-user-pass-verify script',
      'auth-user-pass-optional',
    );
  }

  // TLS wrapping: one of them; tls-auth with its key-direction (none: bidirectional).
  const wraps = [tlsAuth, tlsCrypt, tlsCryptV2].filter((x) => x !== undefined).length;
  if (wraps > 1 && wrapAt) throw err(wrapAt, 'tls-auth, tls-crypt and tls-crypt-v2 are mutually exclusive');
  if (tlsAuth) o.tlsWrap = { mode: 'tls-auth', key: tlsAuth, direction: keyDir };
  else if (tlsCrypt) o.tlsWrap = { mode: 'tls-crypt', key: tlsCrypt };
  else if (tlsCryptV2)
    o.tlsWrap = { mode: 'tls-crypt-v2', key: tlsCryptV2, forceCookie: o.tlsCryptV2ForceCookie };

  // Certificates: as options_postprocess_verify_ce for a TLS server.
  if (o.ca === undefined && o.capath === undefined && o.pkcs12 === undefined) {
    throw fail('you must define a CA file (--ca) or CA path (--capath)', 'ca');
  }
  if (o.dh === undefined) throw fail("you must define a DH file (--dh), or 'dh none' for ECDH only", 'dh');
  if (o.pkcs12 === undefined) {
    if (o.cert === undefined) throw fail('you must define a certificate file (--cert) or pkcs12', 'cert');
    if (o.key === undefined) throw fail('you must define a private key file (--key) or pkcs12', 'key');
  } else if (o.cert !== undefined || o.key !== undefined) {
    throw fail('cert and key cannot be used together with pkcs12', 'pkcs12');
  }

  // Data ciphers (options_postprocess_setdefault_ncpciphers); `cipher` only noted, as on the client.
  o.dataCiphers = dataCiphers ?? [...DEFAULT_DATA_CIPHERS];
  if (
    cipherAt &&
    o.cipher !== undefined &&
    !o.dataCiphers.includes(o.cipher.toUpperCase()) &&
    !o.dataCiphersFallback
  ) {
    note(
      cipherAt,
      'warn',
      `'cipher ${o.cipher}' is not in data-ciphers (${o.dataCiphers.join(':')}); as OpenVPN 2.6, it is not used for negotiation`,
    );
  }
  return o;
}
