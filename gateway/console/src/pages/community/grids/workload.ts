// How even the grid workload is: the planner's two figures (max over mean, coefficient of
// variation) for the parts shown, and each part's tone against the mean, so the chart makes an
// overloaded or idle micro-grid stand out.

export interface Spread {
  count: number;
  mean: number;
  maximum: number;
  minimum: number;
  maxOverMean: number | null;
  coefficientOfVariation: number | null;
}

export function spread(values: number[]): Spread {
  const count = values.length;
  if (count === 0) return { count, mean: 0, maximum: 0, minimum: 0, maxOverMean: null, coefficientOfVariation: null };
  const mean = values.reduce((a, b) => a + b, 0) / count;
  const maximum = Math.max(...values);
  const minimum = Math.min(...values);
  // Population standard deviation, as the planner reports it.
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / count;
  return {
    count,
    mean,
    maximum,
    minimum,
    maxOverMean: mean > 0 ? maximum / mean : null,
    coefficientOfVariation: mean > 0 ? Math.sqrt(variance) / mean : null,
  };
}

export type Tone = "over" | "under" | "even";

/** More than 20 % above the mean is overloaded, more than 20 % below is light. */
export function toneOf(value: number, mean: number, band = 0.2): Tone {
  if (mean <= 0) return "even";
  if (value > mean * (1 + band)) return "over";
  if (value < mean * (1 - band)) return "under";
  return "even";
}

export const TONE_COLOUR: Record<Tone, string> = { over: "#f56c6c", under: "#409eff", even: "#67c23a" };
