/**
 * Largest-triangle-three-buckets (Steinarsson, 2013): keeps the first and last point and, from each of
 * `threshold - 2` buckets, the point forming the largest triangle with the previously kept point and the
 * next bucket's average. Peaks survive because a spike makes a large triangle. Input sorted by time.
 */
export function lttb(
  t: readonly number[],
  v: readonly number[],
  threshold: number,
): { t: number[]; v: number[] } {
  const n = t.length;
  if (threshold >= n || threshold < 3) return { t: [...t], v: [...v] };
  const outT: number[] = [t[0]!];
  const outV: number[] = [v[0]!];
  const every = (n - 2) / (threshold - 2);
  let a = 0;
  for (let i = 0; i < threshold - 2; i++) {
    // Average of the next bucket (the third point of the triangle).
    const nextStart = Math.floor((i + 1) * every) + 1;
    const nextEnd = Math.min(Math.floor((i + 2) * every) + 1, n);
    let avgT = 0;
    let avgV = 0;
    for (let j = nextStart; j < nextEnd; j++) {
      avgT += t[j]!;
      avgV += v[j]!;
    }
    const len = nextEnd - nextStart || 1;
    avgT /= len;
    avgV /= len;

    const start = Math.floor(i * every) + 1;
    const end = Math.floor((i + 1) * every) + 1;
    const at = t[a]!;
    const av = v[a]!;
    let maxArea = -1;
    let chosen = start;
    for (let j = start; j < end; j++) {
      const area = Math.abs((at - avgT) * (v[j]! - av) - (at - t[j]!) * (avgV - av));
      if (area > maxArea) {
        maxArea = area;
        chosen = j;
      }
    }
    outT.push(t[chosen]!);
    outV.push(v[chosen]!);
    a = chosen;
  }
  outT.push(t[n - 1]!);
  outV.push(v[n - 1]!);
  return { t: outT, v: outV };
}
