/** Small helpers for benchmarks: medians over repeated runs, on a noisy shared machine. */

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs `fn(iterations)` `runs` times after one warm-up and returns the median ns per iteration. */
export function nsPerOp(fn: (iterations: number) => void, iterations: number, runs = 7): number {
  fn(Math.max(1, iterations >> 2));
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    fn(iterations);
    samples.push(Number(process.hrtime.bigint() - t0) / iterations);
  }
  return median(samples);
}

export const fmtUs = (ns: number): string => `${(ns / 1000).toFixed(2)} µs`;
