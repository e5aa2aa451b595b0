/**
 * `npm run bench`: every benchmark of the project in one run, printing medians and ratios.
 * Exits 1 if a target is missed, so that a regression is visible.
 */
import { reportCrypto, runCryptoBench } from './crypto.js';

const ok = reportCrypto(runCryptoBench());
process.exitCode = ok ? 0 : 1;
