/** Entry point of `npm run demo`. */
import { runInProcessDemo } from './in-process.js';

runInProcessDemo();
